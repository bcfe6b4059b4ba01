"""Timing and reporting of every Comet call: one ``CallRecord`` per HTTP attempt.

aiohttp's ``TraceConfig`` hooks tell us how long a call waited for a pooled connection and whether
its request headers went out (which decides whether a failed call may be re-sent). The per-call
``CallTiming`` travels to the hooks as the request's ``trace_request_ctx``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Any, Protocol, runtime_checkable

import aiohttp

from .redact import redact_form

__all__ = [
    "LOGGER",
    "CallObserver",
    "CallRecord",
    "CallTiming",
    "NullObserver",
    "build_trace_config",
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
    """Filled in by the trace hooks during one attempt (all times are ``loop.time()``)."""

    started_at: float
    request_started: bool = False
    headers_sent: bool = False
    queued_at: float | None = None
    pool_wait_s: float = 0.0

    @property
    def request_sent(self) -> bool | None:
        """Whether request headers left this process; None when tracing did not run (test doubles)."""
        if not self.request_started:
            return None
        return self.headers_sent


def _timing(ctx: SimpleNamespace) -> CallTiming | None:
    timing = getattr(ctx, "trace_request_ctx", None)
    return timing if isinstance(timing, CallTiming) else None


async def _on_request_start(
    _session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: aiohttp.TraceRequestStartParams
) -> None:
    if (timing := _timing(ctx)) is not None:
        timing.request_started = True


async def _on_headers_sent(
    _session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: aiohttp.TraceRequestHeadersSentParams
) -> None:
    if (timing := _timing(ctx)) is not None:
        timing.headers_sent = True


async def _on_queued_start(
    _session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: aiohttp.TraceConnectionQueuedStartParams
) -> None:
    if (timing := _timing(ctx)) is not None:
        timing.queued_at = asyncio.get_running_loop().time()


async def _on_queued_end(
    _session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: aiohttp.TraceConnectionQueuedEndParams
) -> None:
    if (timing := _timing(ctx)) is not None and timing.queued_at is not None:
        timing.pool_wait_s += asyncio.get_running_loop().time() - timing.queued_at
        timing.queued_at = None


async def _on_request_end(
    _session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: aiohttp.TraceRequestEndParams
) -> None:
    # Response headers arrived, so the request certainly went out (covers transports that do not
    # emit the headers-sent signal).
    if (timing := _timing(ctx)) is not None:
        timing.headers_sent = True


async def _on_request_exception(
    _session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: aiohttp.TraceRequestExceptionParams
) -> None:
    # A call that failed while still queued for a connection: close the pool-wait interval.
    if (timing := _timing(ctx)) is not None and timing.queued_at is not None:
        timing.pool_wait_s += asyncio.get_running_loop().time() - timing.queued_at
        timing.queued_at = None


def build_trace_config() -> aiohttp.TraceConfig:
    """The hooks every client session installs."""
    config = aiohttp.TraceConfig()
    config.on_request_start.append(_on_request_start)
    config.on_request_headers_sent.append(_on_headers_sent)
    config.on_connection_queued_start.append(_on_queued_start)
    config.on_connection_queued_end.append(_on_queued_end)
    config.on_request_end.append(_on_request_end)
    config.on_request_exception.append(_on_request_exception)
    return config


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
