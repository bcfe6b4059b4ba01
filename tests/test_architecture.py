"""The import rules of docs/architecture.md, checked on every module of the service: each layer
imports only what the rules allow, so the seams stay seams."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "service" / "comet_provisioning"
PACKAGE = "comet_provisioning"

# What store/ may use of core: the domain model and the repository interfaces it implements.
DOMAIN = {
    "comet_provisioning.core.accounts.model",
    "comet_provisioning.core.accounts.repository",
    "comet_provisioning.core.request_records",
    "comet_provisioning.core.models",
    "comet_provisioning.core.server_repository",
    "comet_provisioning.core.product_repository",
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = _module(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module(path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py")) if (ROOT / layer).is_dir() else [ROOT / f"{layer}.py"]


def _violations(layer: str, allowed: Callable[[str], bool]) -> list[str]:
    bad = []
    for path in _modules(layer):
        for name in sorted(_imports(path)):
            if not allowed(name):
                bad.append(f"{_module(path)} imports {name}")
    return bad


def _within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_core_knows_no_transport_and_no_storage() -> None:
    forbidden = (
        "grpc",
        "aiohttp",
        "sqlalchemy",
        "alembic",
        "google.protobuf",
        "comet_provisioning_client",
        f"{PACKAGE}.api",
        f"{PACKAGE}.store",
        f"{PACKAGE}.sim",
        f"{PACKAGE}.app",
    )
    assert _violations("core", lambda name: not _within(name, *forbidden)) == []


def test_store_uses_only_the_domain_of_core() -> None:
    def allowed(name: str) -> bool:
        if not _within(name, PACKAGE):
            return not _within(name, "grpc", "aiohttp")
        if _within(name, f"{PACKAGE}.store", f"{PACKAGE}.crypto"):
            return True
        return any(_within(name, domain) for domain in DOMAIN)

    assert _violations("store", allowed) == []


@pytest.mark.parametrize("layer", ["comet", "sim", "crypto"])
def test_the_comet_client_the_simulator_and_the_crypto_stand_alone(layer: str) -> None:
    own = f"{PACKAGE}.{layer}"
    assert _violations(layer, lambda name: not _within(name, PACKAGE) or _within(name, own)) == []


def test_the_api_speaks_to_core_only() -> None:
    forbidden = (f"{PACKAGE}.store", "sqlalchemy", "aiohttp", f"{PACKAGE}.sim")
    assert _violations("api", lambda name: not _within(name, *forbidden)) == []
