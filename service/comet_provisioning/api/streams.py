"""Response streams closed in the call's own task.

grpc.aio leaves a response generator suspended when the caller cancels while a message is being
sent, and a layer's `async for` leaves the stream it reads suspended when the layer itself is
closed: Python would close them later from the garbage collector, in another task, where
resetting a context variable set before a `yield` fails (an ERROR per cancelled download). So
the outermost interceptor serves a response stream as a coroutine that writes each message
itself and closes every stream the call opened, innermost first, however the call ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

import grpc

from .handlers import Context, Handler, Layer, StreamBehaviour, UnaryBehaviour, open_streams, wrap_handler

__all__ = ["StreamDriver", "drive_stream"]

log = logging.getLogger("comet_provisioning.rpc")


def drive_stream(behaviour: StreamBehaviour) -> Any:
    """A response-streaming behaviour as a coroutine writing its messages (grpc's writer API)."""

    async def drive(request: Any, context: Context) -> None:
        opened: list[AsyncGenerator[Any, None]] = []
        token = open_streams.set(opened)
        try:
            stream = behaviour(request, context)
            if isinstance(stream, AsyncGenerator) and stream not in opened:
                opened.append(stream)
            async for message in stream:
                try:
                    await context.write(message)
                except grpc.aio.InternalError as exc:
                    # The call ended under the write (the caller cancelled, or its deadline passed
                    # before grpc noticed): a cancellation, not a servicer failure to log as one.
                    raise asyncio.CancelledError from exc
        finally:
            open_streams.reset(token)
            for stream in reversed(opened):
                try:
                    await stream.aclose()
                except Exception:  # one layer's failure to close must not keep the others open
                    log.exception("closing a response stream failed")

    return drive


class StreamDriver(Layer):
    """The outermost interceptor: every response stream is served by `drive_stream`."""

    def wrap(self, method: str, handler: Handler) -> Handler:
        if not handler.response_streaming:
            return handler
        return wrap_handler(handler, _unchanged, drive_stream)


def _unchanged(behaviour: UnaryBehaviour) -> UnaryBehaviour:
    return behaviour
