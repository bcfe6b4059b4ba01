"""The connector of every Comet session: aiohttp's TCPConnector, timing how long each call waits
for a connection and noting when it has one.

The call's ``CallTiming`` reaches the connector through a context variable set around the request.
aiohttp's ``TraceConfig`` hooks could fill it in too, but with tracing on aiohttp builds and awaits
a signal for every step of every request, which cost 2-3 % of the service's CPU per account created.
The wait measured here runs from asking for a connection to having one: a free slot in the pool, or
a new connection opened.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import TYPE_CHECKING

import aiohttp

from .observe import CallTiming

if TYPE_CHECKING:
    from aiohttp.connector import Connection
    from aiohttp.tracing import Trace

__all__ = ["CURRENT_TIMING", "TimedConnector"]

CURRENT_TIMING: contextvars.ContextVar[CallTiming | None] = contextvars.ContextVar(
    "comet_call_timing", default=None
)


class TimedConnector(aiohttp.TCPConnector):
    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        timing = CURRENT_TIMING.get()
        if timing is None:
            return await super().connect(req, traces, timeout)
        loop = asyncio.get_running_loop()
        asked_at = loop.time()
        timing.asked_for_connection = True
        try:
            conn = await super().connect(req, traces, timeout)
        finally:
            timing.pool_wait_s += loop.time() - asked_at
        timing.connected = True  # from here on the request may reach the server
        return conn
