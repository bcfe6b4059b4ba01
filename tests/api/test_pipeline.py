"""InterceptorPipeline: the chain builds each method's handler once, at registration; the per-call
behaviour still runs on every call, in the layers' order, over a real grpc.aio server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from comet_provisioning.api.interceptors import Continuation, Handler, Interceptor, wrap_handler
from comet_provisioning.api.pipeline import InterceptorPipeline, ServiceCollector


class Recording(Interceptor):
    """Counts how often the chain runs it; its behaviour records the layer's name per call."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls
        self.built = 0

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler:
        handler = await continuation(handler_call_details)
        self.built += 1
        if handler is None:
            return handler

        def unary(behaviour: Any) -> Any:
            async def run(request: Any, context: Any) -> Any:
                self.calls.append(self.name)
                return await behaviour(request, context)

            return run

        def stream(behaviour: Any) -> Any:
            return behaviour

        return wrap_handler(handler, unary, stream)


async def _echo(request: bytes, context: Any) -> bytes:
    return b"echo:" + request


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str], list[Recording]]]:
    calls: list[str] = []
    layers = [Recording("outer", calls), Recording("inner", calls)]
    srv = grpc.aio.server()
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(_echo),
        "Shout": grpc.unary_unary_rpc_method_handler(_echo),
    }
    await InterceptorPipeline(layers).install({"test.Echo": handlers}, srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        yield f"127.0.0.1:{port}", calls, layers
    finally:
        await srv.stop(0)


async def test_layers_build_once_per_method_and_run_on_every_call(
    server: tuple[str, list[str], list[Recording]],
) -> None:
    target, calls, layers = server
    async with grpc.aio.insecure_channel(target) as channel:
        say = channel.unary_unary("/test.Echo/Say")
        shout = channel.unary_unary("/test.Echo/Shout")
        replies = [await say(b"a"), await say(b"b"), await say(b"c"), await shout(b"d")]
    assert replies == [b"echo:a", b"echo:b", b"echo:c", b"echo:d"]
    assert [layer.built for layer in layers] == [2, 2]  # once for Say, once for Shout
    assert calls == ["outer", "inner"] * 4  # every call went through both, outermost first


async def test_unknown_methods_are_unimplemented_and_build_nothing(
    server: tuple[str, list[str], list[Recording]],
) -> None:
    target, calls, layers = server
    async with grpc.aio.insecure_channel(target) as channel:
        for name in ("Nope1", "Nope2"):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(f"/test.Echo/{name}")(b"x")
            assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert calls == []
    assert [layer.built for layer in layers] == [2, 2]  # only the registered methods were built


def test_the_collector_takes_generated_registrations_by_name() -> None:
    def generated(servicer: Any, server: Any) -> None:  # the shape grpcio-tools generates
        handlers = {"Say": grpc.unary_unary_rpc_method_handler(servicer)}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
        server.add_registered_method_handlers("test.Echo", handlers)

    collector = ServiceCollector()
    collector.add(generated, _echo)
    assert list(collector.services) == ["test.Echo"]
    assert collector.services["test.Echo"]["Say"].unary_unary is _echo


def test_the_collector_refuses_handlers_it_cannot_wrap() -> None:
    def generic_only(servicer: Any, server: Any) -> None:
        handlers = {"Say": grpc.unary_unary_rpc_method_handler(servicer)}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))

    with pytest.raises(TypeError, match=r"test\.Echo"):
        ServiceCollector().add(generic_only, _echo)
