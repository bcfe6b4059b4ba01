"""Timing and reporting of every Comet call: one ``CallRecord`` per HTTP attempt.

The session's connector (``connector.TimedConnector``) fills in each call's ``CallTiming``: how long
it waited for a connection, and whether it got one (which decides whether a failed call may be
re-sent: a request without a connection never reached the server).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from .redact import redact_form

__all__ = [
    "LOGGER",
    "CallObserver",
    "CallRecord",
    "CallTiming",
    "NullObserver",
    "report_call",
]

LOGGER = logging.getLogger("comet_provisioning.comet")


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One HTTP attempt against a Comet Server. ``outcome`` is ``"ok"`` or a ``CometError.kind``."""

    server_id: str
    endpoint: str
    duration_s: float
    pool_wait_s: float
    outcome: str
    http_status: int | None
    api_status: int | None
    attempt: int = 1


@runtime_checkable
class CallObserver(Protocol):
    """Receives every call record (metrics, tests). Must be fast and must not raise."""

    def on_call(self, record: CallRecord) -> None: ...


class NullObserver:
    """The default observer: ignores everything."""

    def on_call(self, record: CallRecord) -> None:
        return None


@dataclass(slots=True)
class CallTiming:
    """One attempt's timing (``loop.time()``), filled in by the connector while the request runs."""

    started_at: float
    asked_for_connection: bool = False
    connected: bool = False
    pool_wait_s: float = 0.0

    @property
    def request_sent(self) -> bool | None:
        """Whether the request may have reached the server: False if it never had a connection;
        None when the connector did not run (test doubles that replace the HTTP layer)."""
        if not self.asked_for_connection:
            return None
        return self.connected


def report_call(observer: CallObserver, record: CallRecord, form: Mapping[str, Any] | None) -> None:
    """Hand a record to the observer and log it at DEBUG with the redacted request form."""
    try:
        observer.on_call(record)
    except Exception:
        LOGGER.exception("comet call observer failed")
    if LOGGER.isEnabledFor(logging.DEBUG):
        LOGGER.debug(
            "comet %s %s -> %s in %.3fs (pool wait %.3fs, attempt %d)",
            record.server_id,
            record.endpoint,
            record.outcome,
            record.duration_s,
            record.pool_wait_s,
            record.attempt,
            extra={
                "comet_call": asdict(record),
                "comet_form": redact_form(form) if form is not None else None,
            },
        )
