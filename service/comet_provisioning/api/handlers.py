"""How the service's interceptors wrap a method's handler: one wrapper for all four call types.

grpc.aio interceptors cannot see a call's outcome unless they wrap the method handler's behaviour,
so `wrap_handler` rebuilds a handler around a behaviour decorator. Each interceptor is a `Layer`:
it decides from the method name alone, so it builds a method's handler on its first call and
reuses it, and grpc.aio runs only the chain of `intercept_service` coroutines per call.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

__all__ = [
    "Context",
    "Continuation",
    "Handler",
    "Interceptor",
    "Layer",
    "StreamBehaviour",
    "UnaryBehaviour",
    "open_streams",
    "wrap_handler",
]

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
# A behaviour's first argument is the request, or the iterator of requests of a client stream.
UnaryBehaviour: TypeAlias = "Callable[[Any, Context], Awaitable[Any]]"
StreamBehaviour: TypeAlias = "Callable[[Any, Context], AsyncIterator[Any]]"

# The response streams of the call being served, outermost first (see streams.StreamDriver).
open_streams: contextvars.ContextVar[list[AsyncGenerator[Any, None]] | None] = contextvars.ContextVar(
    "open_streams", default=None
)


def _tracked(behaviour: StreamBehaviour) -> StreamBehaviour:
    """`behaviour`, the streams it opens noted in `open_streams`: a layer's `async for` leaves the
    stream it reads suspended when the layer itself is closed."""

    def start(request: Any, context: Context) -> AsyncIterator[Any]:
        stream = behaviour(request, context)
        opened = open_streams.get()
        if opened is not None and isinstance(stream, AsyncGenerator):
            opened.append(stream)
        return stream

    return start


_BEHAVIOURS = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


def wrap_handler(
    handler: Handler,
    unary: Callable[[UnaryBehaviour], UnaryBehaviour],
    stream: Callable[[StreamBehaviour], StreamBehaviour],
    *,
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    """`handler` with its behaviour wrapped: by `unary` when it answers one message, by `stream`
    when it answers a stream; `request_deserializer` replaces the handler's own."""
    name, factory = _BEHAVIOURS[(bool(handler.request_streaming), bool(handler.response_streaming))]
    behaviour: Any = getattr(handler, name)
    wrapped = stream(_tracked(behaviour)) if handler.response_streaming else unary(behaviour)
    built: Handler = factory(
        wrapped,
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
    return built


class Layer(Interceptor):
    """A server interceptor whose handler for a method depends on the method name alone: built on
    the method's first call, then reused."""

    def __init__(self) -> None:
        self._built: dict[str, tuple[Handler, Handler]] = {}

    def wrap(self, method: str, handler: Handler) -> Handler:
        """The handler of `method` around `handler` (the next layer's)."""
        raise NotImplementedError

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler  # grpc answers UNIMPLEMENTED; nothing is kept for an unknown name
        method: str = handler_call_details.method
        built = self._built.get(method)
        if built is None or built[0] is not handler:
            built = self._built[method] = (handler, self.wrap(method, handler))
        return built[1]
