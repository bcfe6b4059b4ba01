"""Server interceptors: one wrapping mechanism, several concerns.

grpc.aio interceptors cannot see a call's outcome unless they wrap the method handler's behaviour,
so `wrap_handler` rebuilds a handler around a behaviour decorator. `CallContextInterceptor` uses it
to bind the log context, turn domain errors into rich statuses, hide unexpected exceptions and
answer INVALID_ARGUMENT (not INTERNAL) for bytes that do not parse as the request message.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError

from comet_provisioning import logs
from comet_provisioning.api.errors import abort, internal_error, malformed_request, status_code
from comet_provisioning.core.errors import ServiceError

log = logging.getLogger("comet_provisioning.rpc")

# grpc-stubs makes these generic; the runtime classes are not, so subscript only for the checker.
if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
    Interceptor: TypeAlias = grpc.aio.ServerInterceptor[Any, Any]
else:
    Context = grpc.aio.ServicerContext
    Handler = grpc.RpcMethodHandler
    Interceptor = grpc.aio.ServerInterceptor
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler]]"
UnaryBehaviour: TypeAlias = "Callable[[Any, Context], Awaitable[Any]]"
StreamBehaviour: TypeAlias = "Callable[[Any, Context], AsyncIterator[Any]]"


class _Malformed:
    """Stands in for a request whose bytes did not parse, so the handler can answer cleanly."""


_MALFORMED = _Malformed()


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, ValueError, TypeError):
            return _MALFORMED

    return parse


# The response streams of the call being served, outermost first (see `tracked` and
# `pipeline.drive_stream`): closed by the call's own task, so that what their layers set around a
# `yield` (context variables, the log context) is undone in the context that set it.
OPEN_STREAMS: contextvars.ContextVar[list[AsyncGenerator[Any, None]] | None] = contextvars.ContextVar(
    "open_streams", default=None
)


def tracked(behaviour: StreamBehaviour) -> StreamBehaviour:
    """`behaviour`, its streams noted in OPEN_STREAMS: a layer's `async for` leaves the stream it
    reads suspended when the layer itself is closed, and Python would close it later from the
    garbage collector, in another task."""

    def start(request: Any, context: Context) -> AsyncIterator[Any]:
        stream = behaviour(request, context)
        opened = OPEN_STREAMS.get()
        if opened is not None and isinstance(stream, AsyncGenerator):
            opened.append(stream)
        return stream

    return start


def wrap_handler(
    handler: Handler,
    unary: Callable[[UnaryBehaviour], UnaryBehaviour],
    stream: Callable[[StreamBehaviour], StreamBehaviour],
) -> Handler:
    """`handler` with its behaviour wrapped. Built once per method: InterceptorPipeline runs the
    interceptors when the services are registered, not on each call."""
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary(handler.unary_unary),  # type: ignore[arg-type]
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            stream(tracked(handler.unary_stream)),  # type: ignore[arg-type]
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    return handler  # client-streaming methods: none in this API


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


class CallContextInterceptor(Interceptor):
    """Log context, error mapping and malformed-request handling for every service method."""

    async def intercept_service(
        self,
        continuation: Continuation,
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith("/grpc."):
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
                    except asyncio.CancelledError:
                        _log_outcome(started, _gone(context), "", logging.INFO)
                        raise
                    except ServiceError as err:
                        _log_outcome(started, status_code(err).name, err.reason, logging.INFO)
                        await abort(context, err)
                    except Exception as exc:
                        if _is_abort(exc):
                            raise
                        log.exception("unexpected error")
                        await abort(context, internal_error())
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
                    except (asyncio.CancelledError, GeneratorExit):  # the caller went away
                        _log_outcome(started, _gone(context), "", logging.INFO)
                        raise
                    except ServiceError as err:
                        _log_outcome(started, status_code(err).name, err.reason, logging.INFO)
                        await abort(context, err)
                    except Exception as exc:
                        if _is_abort(exc):
                            raise
                        log.exception("unexpected error")
                        await abort(context, internal_error())
                    _log_outcome(started, "OK", "", ok_level)

            return run

        return wrap_handler(handler, unary, stream)


def _gone(context: Context) -> str:
    """Why a call stopped before it finished: its deadline passed, or the caller cancelled it."""
    remaining = context.time_remaining()
    return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"


def _is_abort(exc: BaseException) -> bool:
    # context.abort() raises grpc's internal AbortError; let it through untouched.
    return type(exc).__name__ in {"AbortError", "UsageError"} or isinstance(exc, grpc.RpcError)


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
