"""gRPC server metrics for grpc.aio, named as go-grpc-prometheus names them (so dashboards fit).

- `grpc_server_started_total{grpc_service, grpc_method, grpc_type}`
- `grpc_server_handled_total{grpc_service, grpc_method, grpc_type, grpc_code}`
- `grpc_server_handling_seconds{grpc_service, grpc_method, grpc_type}` (histogram)
- `grpc_server_msg_sent_total{grpc_service, grpc_method, grpc_type}` (streamed responses)

The interceptor goes first in the chain so refusals by authentication and the admission gate are
counted with their codes. The code comes from the servicer context after the behaviour ends: an
abort sets it there; a normal return is OK; a cancelled call is CANCELLED; anything else UNKNOWN.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from prometheus_client import CollectorRegistry, Counter, Histogram

from .handlers import Context, Handler, Layer, StreamBehaviour, UnaryBehaviour, wrap_handler

__all__ = ["GrpcServerMetrics", "MetricsInterceptor"]

_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_UNARY = "unary"
_SERVER_STREAM = "server_stream"


class GrpcServerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["grpc_service", "grpc_method", "grpc_type"]
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server.", labels, registry=registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, regardless of success or failure.",
            [*labels, "grpc_code"],
            registry=registry,
        )
        self.handling = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC until the server finished handling it.",
            labels,
            buckets=_BUCKETS,
            registry=registry,
        )
        self.msg_sent = Counter(
            "grpc_server_msg_sent", "Stream messages sent by the server.", labels, registry=registry
        )

    def initialize(self, services: Iterable[ServiceDescriptor]) -> None:
        """Creates the zero series of every method, so rates work from the first scrape."""
        for service in services:
            for method in service.methods:
                kind = _SERVER_STREAM if method.server_streaming else _UNARY
                self.started.labels(service.full_name, method.name, kind)
                self.handled.labels(service.full_name, method.name, kind, "OK")
                self.handling.labels(service.full_name, method.name, kind)


def split_method(method: str) -> tuple[str, str]:
    """`/pkg.Service/Method` → (`pkg.Service`, `Method`)."""
    service, _, name = method.lstrip("/").partition("/")
    return service, name


def _code_name(context: Context) -> str:
    code = context.code()
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return code.name
    for status in grpc.StatusCode:  # the aio context may hold the numeric value
        if status.value[0] == code:
            return status.name
    return "UNKNOWN"


class MetricsInterceptor(Layer):
    def __init__(self, metrics: GrpcServerMetrics) -> None:
        super().__init__()
        self.metrics = metrics

    def wrap(self, method: str, handler: Handler) -> Handler:
        if method.startswith("/grpc."):
            return handler
        service, name = split_method(method)
        m = self.metrics
        # The behaviours below are built once per method (see Layer), so they keep their label
        # children instead of calling labels() (a lock and a dict) on every call.
        handled: dict[tuple[str, str], Any] = {}

        def finish(kind: str, handling: Any, started: float, code: str) -> None:
            counter = handled.get((kind, code))
            if counter is None:
                counter = handled[(kind, code)] = m.handled.labels(service, name, kind, code)
            counter.inc()
            handling.observe(time.perf_counter() - started)

        def outcome(context: Context, exc: BaseException | None) -> str:
            if exc is None:
                return _code_name(context)
            if isinstance(exc, asyncio.CancelledError):
                return "CANCELLED"
            code = _code_name(context)
            return "UNKNOWN" if code == "OK" else code

        def unary(behaviour: UnaryBehaviour) -> UnaryBehaviour:
            calls = m.started.labels(service, name, _UNARY)
            handling = m.handling.labels(service, name, _UNARY)

            async def run(request: Any, context: Context) -> Any:
                calls.inc()
                started = time.perf_counter()
                try:
                    response = await behaviour(request, context)
                except BaseException as exc:
                    finish(_UNARY, handling, started, outcome(context, exc))
                    raise
                finish(_UNARY, handling, started, outcome(context, None))
                return response

            return run

        def stream(behaviour: StreamBehaviour) -> StreamBehaviour:
            calls = m.started.labels(service, name, _SERVER_STREAM)
            handling = m.handling.labels(service, name, _SERVER_STREAM)
            sent = m.msg_sent.labels(service, name, _SERVER_STREAM)

            async def run(request: Any, context: Context) -> AsyncIterator[Any]:
                calls.inc()
                started = time.perf_counter()
                try:
                    async for item in behaviour(request, context):
                        sent.inc()
                        yield item
                except BaseException as exc:
                    if isinstance(exc, GeneratorExit):
                        finish(_SERVER_STREAM, handling, started, "CANCELLED")
                    else:
                        finish(_SERVER_STREAM, handling, started, outcome(context, exc))
                    raise
                finish(_SERVER_STREAM, handling, started, outcome(context, None))

            return run

        return wrap_handler(handler, unary, stream)
