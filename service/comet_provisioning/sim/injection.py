"""Turning a fired fault rule into what the client sees on the wire."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from .context import SimContext
from .faults import FaultRule

__all__ = ["BAD_GATEWAY_HTML", "ConnectionAborted", "inject"]

BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class ConnectionAborted(Exception):
    """Raised after the transport was aborted, so aiohttp writes no reply."""


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


async def inject(
    request: web.Request, sim: SimContext, rule: FaultRule, *, label: str | None = None
) -> web.StreamResponse:
    """Answer (or fail to answer) as `rule.kind` says; raises ConnectionAborted for reset/hang.

    `label` names the fault in `counters.faults` (default: the kind, `_after_commit` when after).
    """
    sim.counters.faults[label or f"{rule.kind}{'_after_commit' if rule.after_commit else ''}"] += 1
    if rule.kind == "http502":
        return web.Response(status=502, text=BAD_GATEWAY_HTML, content_type="text/html")
    if rule.kind == "http500":
        return web.Response(status=500, text="500 Internal Server Error", content_type="text/plain")
    if rule.kind == "status500":
        return sim.json_reply({"Status": 500, "Message": "Internal server error (simulated)"})
    if rule.kind == "hang":
        hang_s = rule.hang_s if rule.hang_s is not None else sim.faults.default_hang_s
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(sim.stopping.wait(), timeout=hang_s)
    _abort(request)
    raise ConnectionAborted(rule.kind)
