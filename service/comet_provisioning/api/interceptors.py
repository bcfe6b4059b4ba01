"""The call context of every service method: the log context bound, domain errors turned into
rich statuses, unexpected exceptions hidden, and INVALID_ARGUMENT (not INTERNAL) for bytes that do
not parse as the request message."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from comet_provisioning import logs
from comet_provisioning.api.errors import abort, internal_error, malformed_request, status_code
from comet_provisioning.core.errors import ServiceError

from .handlers import Context, Handler, Layer, StreamBehaviour, UnaryBehaviour, wrap_handler

__all__ = ["CallContextInterceptor"]

log = logging.getLogger("comet_provisioning.rpc")


class _Malformed:
    """Stands in for a request whose bytes did not parse, so the handler can answer cleanly."""


_MALFORMED = _Malformed()

# How grpc ends a call from inside (context.abort() raises AbortError, a second abort UsageError):
# let them through untouched.
_ENDED = (grpc.aio.AbortError, grpc.aio.UsageError, grpc.RpcError)


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, ValueError, TypeError):
            return _MALFORMED

    return parse


# A call that brings no request id gets one for its log lines: this process's random prefix and a
# serial number, unique across replicas and restarts without reading the OS random source per call.
_LOCAL_PREFIX = secrets.token_hex(8)
_local_serial = itertools.count(1)


def _request_id(request: Any, context: Context) -> str | logs.Deferred:
    """The request's own id; else, only if a log line needs it, the x-request-id header or a new id."""
    rid = getattr(request, "request_id", "") if not isinstance(request, _Malformed) else ""
    return rid or logs.Deferred(lambda: _header_or_new_id(context))


def _header_or_new_id(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and value:
            return value
    return f"{_LOCAL_PREFIX}-{next(_local_serial):x}"


class CallContextInterceptor(Layer):
    """Log context, error mapping and malformed-request handling for every service method."""

    def wrap(self, method: str, handler: Handler) -> Handler:
        if method.startswith("/grpc."):
            return handler  # health and reflection keep their own behaviour
        ok_level = _success_level(method)

        def unary(behaviour: UnaryBehaviour) -> UnaryBehaviour:
            async def run(request: Any, context: Context) -> Any:
                with logs.bind(rpc=method, request_id=_request_id(request, context)):
                    started = time.perf_counter()
                    try:
                        if isinstance(request, _Malformed):
                            raise malformed_request(method)
                        response = await behaviour(request, context)
                    except BaseException as exc:
                        await _failed(context, started, exc)
                        raise
                    _log_outcome(started, "OK", "", ok_level)
                    return response

            return run

        def stream(behaviour: StreamBehaviour) -> StreamBehaviour:
            async def run(request: Any, context: Context) -> AsyncIterator[Any]:
                with logs.bind(rpc=method, request_id=_request_id(request, context)):
                    started = time.perf_counter()
                    try:
                        if isinstance(request, _Malformed):
                            raise malformed_request(method)
                        async for item in behaviour(request, context):
                            yield item
                    except BaseException as exc:
                        await _failed(context, started, exc)
                        raise
                    _log_outcome(started, "OK", "", ok_level)

            return run

        return wrap_handler(
            handler, unary, stream, request_deserializer=_tolerant(handler.request_deserializer)
        )


async def _failed(context: Context, started: float, exc: BaseException) -> None:
    """A call that did not answer: its access line, and its status (a domain error's own, an
    unexpected exception's INTERNAL without its text). Returns when `exc` is to go on as it is."""
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):  # the caller went away
        _log_outcome(started, _gone(context), "", logging.INFO)
    elif isinstance(exc, ServiceError):
        _log_outcome(started, status_code(exc).name, exc.reason, logging.INFO)
        await abort(context, exc)
    elif isinstance(exc, Exception) and not isinstance(exc, _ENDED):
        log.exception("unexpected error")
        await abort(context, internal_error())


def _gone(context: Context) -> str:
    """Why a call stopped before it finished: its deadline passed, or the caller cancelled it."""
    remaining = context.time_remaining()
    return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"


# Successful reads are the bulk of the traffic and change nothing: their access lines are DEBUG.
# Every change, every failure, sign-on links and downloads stay at INFO.
_READ_PREFIXES = ("Get", "List", "Quote")


def _success_level(method: str) -> int:
    name = method.rpartition("/")[2]
    return logging.DEBUG if name.startswith(_READ_PREFIXES) else logging.INFO


def _log_outcome(started: float, code: str, reason: str, level: int) -> None:
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "rpc finished",
        extra={
            "code": code,
            "reason": reason,
            "duration_ms": round((time.perf_counter() - started) * 1e3, 2),
        },
    )
