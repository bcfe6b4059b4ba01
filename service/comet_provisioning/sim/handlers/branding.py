"""`branding/generate-client/{platform}`: the client installer, streamed with a known length."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..installer import PLATFORMS, installer_chunks
from .base import CallContext, CometError

__all__ = ["PREFIX", "generate_client"]

PREFIX = "branding/generate-client/"


async def generate_client(ctx: CallContext) -> Any:
    platform = ctx.endpoint[len(PREFIX) :]
    kind = PLATFORMS.get(platform)
    if kind is None:
        raise CometError(400, f"Unknown platform '{platform}'")
    settings = ctx.sim.settings
    counters = ctx.sim.counters
    size = settings.installer_size
    response = web.StreamResponse(
        status=200,
        headers={"Content-Disposition": f'attachment; filename="{kind.filename}"'},
    )
    response.content_type = kind.content_type
    response.content_length = size
    await response.prepare(ctx.request)
    sent = 0
    for chunk in installer_chunks(
        platform, size, seed=settings.installer_seed, chunk_size=settings.installer_chunk_size
    ):
        if ctx.abort_stream_at is not None and sent + len(chunk) > ctx.abort_stream_at:
            # A connection reset half-way: the client sees a short body.
            if ctx.request.transport is not None:
                ctx.request.transport.abort()
            counters.faults["reset_mid_stream"] += 1
            return response
        await response.write(chunk)
        sent += len(chunk)
        counters.bytes_streamed += len(chunk)
        counters.chunks_streamed += 1
    await response.write_eof()
    return response
