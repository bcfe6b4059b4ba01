"""The service's interceptors applied once, when the services are registered, instead of per call.

grpc.aio runs a server's interceptors on every call: a coroutine per interceptor, handed the next
as its continuation, all to find the handler. Ours only *build* a handler from the method name and
the registered handler (their per-call work is in the behaviours they wrap around it), so the result
is the same on every call of a method. `InterceptorPipeline` therefore runs the chain once per
method at start-up and registers the handlers it built; the server itself has no interceptors and
finds a method's handler with one dictionary lookup. A method nobody registered gets grpc's own
UNIMPLEMENTED, as it would if the interceptors ran (each of ours passes a missing handler through).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc

from comet_provisioning.api.interceptors import Continuation, Handler, Interceptor

__all__ = ["InterceptorPipeline", "ServiceCollector"]


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
        return built


class _Details(grpc.HandlerCallDetails):
    """What the layers see of a method at registration: its name, and no call's metadata."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()
