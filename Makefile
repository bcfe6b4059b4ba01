# Two commands for a fresh clone (Python 3.11+, git and PyPI; `make test` also npm, for buf):
#   make demo   set up the Python environment and start the demo server (embedded Comet simulator)
#   make test   set everything up and run every check: ruff, mypy, buf lint/breaking,
#               generated-code freshness, a verified load run against the demo, pytest
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
LISTEN ?= 127.0.0.1:50051

.PHONY: setup demo test check lint types protos gen fmt pytest load bench clean

setup: $(VENV)/.installed $(BUF)

$(VENV)/.installed: pyproject.toml clients/pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./clients -e '.[dev]'
	touch $@

$(BUF):
	npm install --prefix .tools --no-save --no-fund --no-audit --loglevel=error @bufbuild/buf@$(BUF_VERSION)

# Only the Python environment: buf (npm) is for the contract checks, not for running the service.
demo: $(VENV)/.installed
	$(VENV)/bin/comet-provisioning serve --demo --listen $(LISTEN)

test: setup check load pytest

check: lint types protos

lint: setup
	$(VENV)/bin/ruff check service clients tests scripts
	$(VENV)/bin/ruff format --check service clients tests scripts

types: setup
	$(VENV)/bin/mypy

protos: setup
	$(BUF) lint
	scripts/buf_breaking.sh $(BUF)
	$(PY) scripts/gen_protos.py --check

gen: setup
	$(PY) scripts/gen_protos.py

fmt: setup
	$(VENV)/bin/ruff format service clients tests scripts
	$(VENV)/bin/ruff check --fix service clients tests scripts

# Two workers, whole files apiece (a file's tests share their module-level set-up): the suite is
# mostly waiting on sockets and PostgreSQL, so two cores finish it sooner. The reliability tests
# (marked serial) then run alone: they time faults against a load. Exit 5 = nothing selected.
PYTEST_WORKERS ?= 2

pytest: setup
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS); s=$$?; [ $$s -eq 0 ] || [ $$s -eq 5 ]
	$(PY) -m pytest -q -m serial $(PYTEST_ARGS); s=$$?; [ $$s -eq 0 ] || [ $$s -eq 5 ]

load: setup
	scripts/ci_load.sh

bench: setup
	$(PY) tests/perf/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache
