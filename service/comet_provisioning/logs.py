"""Structured logging: one JSON object a line (or readable text on a terminal).

Context that applies to a whole RPC (request id, method, caller, account, Comet server) lives in
contextvars, so every line logged while serving a call carries it without being passed around.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_CONTEXT: contextvars.ContextVar[dict[str, str | Deferred]] = contextvars.ContextVar("log_context")

# Attributes every LogRecord has; anything else passed through `extra=` is a structured field.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime", "taskName"}
)


def log_context() -> dict[str, str]:
    return {key: str(value) for key, value in _CONTEXT.get({}).items()}


class Deferred:
    """A context value worked out only when a line that carries it is written (reads log nothing
    at INFO, so most calls never need it)."""

    __slots__ = ("_compute", "_value")

    def __init__(self, compute: Callable[[], str]) -> None:
        self._compute = compute
        self._value: str | None = None

    def __str__(self) -> str:
        if self._value is None:
            self._value = self._compute()
        return self._value


class bind:  # lower case: it reads as a function, `with logs.bind(...)`
    """Adds fields to the log context for the duration of the block. A class rather than a
    @contextmanager generator: it runs several times on every call."""

    __slots__ = ("_fields", "_token")

    def __init__(self, **fields: str | Deferred) -> None:
        self._fields = fields

    def __enter__(self) -> None:
        self._token = _CONTEXT.set({**_CONTEXT.get({}), **{k: v for k, v in self._fields.items() if v}})

    def __exit__(self, *_: object) -> None:
        _CONTEXT.reset(self._token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(log_context())
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f"  [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


_configured = False


def is_configured() -> bool:
    """Whether `configure` ran in this process (a fatal error then goes out as a log line)."""
    return _configured


def configure(level: str = "INFO", fmt: str = "auto") -> None:
    """Sets up the root logger. `fmt` is json, text, or auto (text on a terminal, else JSON)."""
    global _configured
    _configured = True
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would repeat what our own call log says.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Alembic narrates its plugin set-up at INFO; the migration lines are enough.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # ...and its set-up of every schema read (each /readyz probe): two lines a probe, no news.
    migration = logging.getLogger("alembic.runtime.migration")
    if _quiet_alembic_setup not in migration.filters:
        migration.addFilter(_quiet_alembic_setup)


def _quiet_alembic_setup(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(("Context impl ", "Will assume "))


def capture_stray_output() -> None:
    """Python's own writes around logging (warnings, exceptions nobody could raise: in a `__del__`,
    in a thread) become log lines, so a JSON log stays JSON."""
    logging.captureWarnings(True)
    stray = logging.getLogger("comet_provisioning.unhandled")

    def unraisable(hook: sys.UnraisableHookArgs) -> None:
        exc = hook.exc_value
        info = (type(exc), exc, hook.exc_traceback) if exc is not None else None
        stray.error("exception ignored in %r", hook.object, exc_info=info)

    def in_thread(hook: threading.ExceptHookArgs) -> None:
        if hook.exc_type is SystemExit:
            return
        info = (hook.exc_type, hook.exc_value, hook.exc_traceback) if hook.exc_value is not None else None
        name = hook.thread.name if hook.thread is not None else "?"
        stray.error("exception in thread %s", name, exc_info=info)

    sys.unraisablehook = unraisable
    threading.excepthook = in_thread
