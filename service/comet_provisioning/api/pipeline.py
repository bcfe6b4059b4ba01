"""The service's interceptors applied once, when the services are registered, instead of per call.

grpc.aio runs a server's interceptors on every call: a coroutine per interceptor, handed the next
as its continuation, all to find the handler. Ours only *build* a handler from the method name and
the registered handler (their per-call work is in the behaviours they wrap around it), so the result
is the same on every call of a method. `InterceptorPipeline` therefore runs the chain once per
method at start-up and registers the handlers it built; the server itself has no interceptors and
finds a method's handler with one dictionary lookup. A method nobody registered gets grpc's own
UNIMPLEMENTED, as it would if the interceptors ran (each of ours passes a missing handler through).

A response stream is registered as a coroutine that writes each message itself (`drive_stream`),
not as the async generator the layers built: grpc.aio leaves a generator suspended when the caller
cancels while a message is being sent, and the garbage collector later closes it in another task,
where resetting a context variable set before the `yield` fails (an ERROR per cancelled download).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc

from comet_provisioning.api.interceptors import (
    OPEN_STREAMS,
    Context,
    Continuation,
    Handler,
    Interceptor,
    StreamBehaviour,
)

log = logging.getLogger("comet_provisioning.rpc")

__all__ = ["InterceptorPipeline", "ServiceCollector", "drive_stream"]


class ServiceCollector:
    """Stands in for the server in generated `add_*_to_server` functions: keeps each service's
    method handlers by name, so they can be wrapped before the real server sees them."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, Handler]] = {}
        self._generic_names: list[str] = []

    def add_generic_rpc_handlers(self, handlers: Iterable[Any]) -> None:
        # Generated code registers the same handlers by name just after (add_registered_method_handlers);
        # only the service name is kept here, to check that nothing arrived in this form alone.
        self._generic_names.extend(handler.service_name() for handler in handlers)

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, Handler]) -> None:
        self.services[service] = dict(handlers)

    def add(self, register: Callable[[Any, Any], None], servicer: Any) -> None:
        """`register(servicer, self)`: one generated `add_*_to_server` call."""
        register(servicer, self)
        missing = [name for name in self._generic_names if name not in self.services]
        if missing:
            raise TypeError(f"{missing} registered without method names; cannot wrap their handlers")


class InterceptorPipeline:
    """`layers` in order, outermost first. Each must decide only from the method name and handler."""

    def __init__(self, layers: Sequence[Interceptor]) -> None:
        self._layers = tuple(layers)

    async def install(self, services: Mapping[str, Mapping[str, Handler]], server: grpc.aio.Server) -> None:
        """Registers every method of `services` on `server`, each wrapped by the layers."""
        for service, handlers in services.items():
            wrapped = {name: await self.build(f"/{service}/{name}", h) for name, h in handlers.items()}
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, wrapped),))
            server.add_registered_method_handlers(service, wrapped)  # type: ignore[attr-defined]  # not in grpc-stubs

    async def build(self, method: str, handler: Handler) -> Handler:
        """The handler the layers build around `handler` for `method`."""

        async def registered(_details: grpc.HandlerCallDetails) -> Handler:
            return handler

        chain: Continuation = registered
        for layer in reversed(self._layers):
            chain = functools.partial(layer.intercept_service, chain)
        built = await chain(_Details(method))
        if built is None:
            raise TypeError(f"an interceptor dropped the handler of {method}")
        if built.unary_stream is not None and inspect.isasyncgenfunction(built.unary_stream):
            return grpc.unary_stream_rpc_method_handler(
                drive_stream(built.unary_stream),  # type: ignore[arg-type]
                request_deserializer=built.request_deserializer,
                response_serializer=built.response_serializer,
            )
        return built


def drive_stream(behaviour: StreamBehaviour) -> Callable[[Any, Context], Any]:
    """A server-streaming behaviour as a coroutine writing its messages (grpc's writer API), which
    closes every stream of the call, innermost first, in the call's own task however it ends."""

    async def drive(request: Any, context: Context) -> None:
        opened: list[AsyncGenerator[Any, None]] = []
        token = OPEN_STREAMS.set(opened)
        try:
            stream = behaviour(request, context)
            if isinstance(stream, AsyncGenerator):
                opened.append(stream)
            async for message in stream:
                try:
                    await context.write(message)
                except Exception as exc:
                    if type(exc).__name__ != "ExecuteBatchError":
                        raise
                    # The call ended under the write (the caller cancelled, or its deadline passed
                    # before grpc noticed): a cancellation, not a servicer failure to log as one.
                    raise asyncio.CancelledError from exc
        finally:
            OPEN_STREAMS.reset(token)
            for stream in reversed(opened):
                try:
                    await stream.aclose()
                except Exception:  # one layer's failure to close must not keep the others open
                    log.exception("closing a response stream failed")

    return drive


class _Details(grpc.HandlerCallDetails):
    """What the layers see of a method at registration: its name, and no call's metadata."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()
