"""Interceptor layers over a real grpc.aio server: each builds a method's handler once, on its first
call; the per-call behaviour still runs on every call, in the layers' order, for all four call
types; unknown methods are grpc's own UNIMPLEMENTED and build nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from comet_provisioning.api.handlers import Handler, Layer, wrap_handler
from comet_provisioning.api.streams import StreamDriver


class Recording(Layer):
    """Counts the handlers it builds; its behaviour records the layer's name per call."""

    def __init__(self, name: str, calls: list[str]) -> None:
        super().__init__()
        self.name = name
        self.calls = calls
        self.built = 0

    def wrap(self, method: str, handler: Handler) -> Handler:
        self.built += 1

        def unary(behaviour: Any) -> Any:
            async def run(request: Any, context: Any) -> Any:
                self.calls.append(self.name)
                return await behaviour(request, context)

            return run

        def stream(behaviour: Any) -> Any:
            async def run(request: Any, context: Any) -> AsyncIterator[Any]:
                self.calls.append(self.name)
                async for item in behaviour(request, context):
                    yield item

            return run

        return wrap_handler(handler, unary, stream)


async def _echo(request: bytes, context: Any) -> bytes:
    return b"echo:" + request


async def _echo_each(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for part in request.split(b","):
        yield b"echo:" + part


async def _join(requests: AsyncIterator[bytes], context: Any) -> bytes:
    return b"+".join([part async for part in requests])


async def _echo_stream(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
    async for part in requests:
        yield b"echo:" + part


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str], list[Recording]]]:
    calls: list[str] = []
    layers = [Recording("outer", calls), Recording("inner", calls)]
    srv = grpc.aio.server(interceptors=[StreamDriver(), *layers])
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(_echo),
        "Shout": grpc.unary_unary_rpc_method_handler(_echo),
        "Each": grpc.unary_stream_rpc_method_handler(_echo_each),
        "Join": grpc.stream_unary_rpc_method_handler(_join),
        "Chat": grpc.stream_stream_rpc_method_handler(_echo_stream),
    }
    srv.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        yield f"127.0.0.1:{port}", calls, layers
    finally:
        await srv.stop(0)


async def _parts() -> AsyncIterator[bytes]:
    for part in (b"a", b"b"):
        yield part


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


async def test_one_wrapper_serves_all_four_call_types(
    server: tuple[str, list[str], list[Recording]],
) -> None:
    target, calls, layers = server
    async with grpc.aio.insecure_channel(target) as channel:
        assert await channel.unary_unary("/test.Echo/Say")(b"x") == b"echo:x"
        assert [m async for m in channel.unary_stream("/test.Echo/Each")(b"p,q")] == [b"echo:p", b"echo:q"]
        assert await channel.stream_unary("/test.Echo/Join")(_parts()) == b"a+b"
        assert [m async for m in channel.stream_stream("/test.Echo/Chat")(_parts())] == [b"echo:a", b"echo:b"]
    assert calls == ["outer", "inner"] * 4
    assert [layer.built for layer in layers] == [4, 4]


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
    assert [layer.built for layer in layers] == [0, 0]
