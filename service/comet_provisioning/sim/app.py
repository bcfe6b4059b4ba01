"""The aiohttp application: one dispatcher for every admin endpoint, plus the control API.

Each admin call goes through the same steps, in the order a real deployment would fail: count it,
latency, faults a proxy or a crash would cause (before any effect), login protection and
authentication, the handler (the side effect), then faults that lose the reply after the commit.
The behaviour's proxy (an HTML 502 on every Nth call, before or after the effect) reuses the same
two points. Every JSON reply leaves through `SimContext.json_reply`, in the server's language.
"""

from __future__ import annotations

import asyncio
import logging
from email.utils import formatdate
from typing import Any

from aiohttp import hdrs, web

from . import control
from .auth import AuthRefused, authenticate
from .context import SIM_KEY, SimContext
from .faults import FaultRule
from .handlers import CallContext, CometError, carm, is_streaming, resolve
from .injection import ConnectionAborted, inject

__all__ = ["ADMIN_PREFIX", "build_app"]

ADMIN_PREFIX = "/api/v1/admin/"

log = logging.getLogger(__name__)


def _is_success(reply: Any) -> bool:
    if isinstance(reply, web.StreamResponse):
        return reply.status < 300
    if isinstance(reply, dict) and "Status" in reply:
        status = reply["Status"]
        return isinstance(status, int) and 200 <= status < 300
    return True


def _source(request: web.Request) -> str:
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return request.remote or "unknown"


def _proxy_label(rule: FaultRule) -> str:
    return "proxy502_after" if rule.after_commit else "proxy502_before"


async def _dispatch(request: web.Request, sim: SimContext) -> web.StreamResponse:
    endpoint = request.match_info["endpoint"]
    posted = await request.post()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    target = form.get("TargetUser")
    sim.counters.call(endpoint, target)
    faults = sim.faults

    # The proxy in front sees every call; a 502 "after" lets the call through and loses its reply.
    proxy = faults.proxy_pick(sim.behaviour.proxy_502_every, sim.behaviour.proxy_after_fraction)
    proxy_after = proxy if proxy is not None and proxy.after_commit else None
    fired = faults.pick(endpoint, target, after_commit=False)
    delay = faults.latency_s() + sum(r.delay_ms for r in fired if r.kind == "delay") / 1000.0
    if delay > 0:
        await asyncio.sleep(delay)
    failure = next((r for r in fired if r.kind != "delay"), None)
    if failure is not None:
        return await inject(request, sim, failure)
    if proxy is not None and proxy_after is None:
        return await inject(request, sim, proxy, label=_proxy_label(proxy))

    handler = resolve(endpoint)
    if handler is None:
        reply: Any = carm(404, f"Unknown API endpoint '{endpoint}'")
        return await _answer(request, sim, reply, proxy_after, proxy_after, http_status=404)

    auth = authenticate(sim, form, _source(request))
    if isinstance(auth, AuthRefused):
        return await _answer(request, sim, auth.body, proxy_after, proxy_after, http_status=auth.http_status)

    ctx = CallContext(sim=sim, request=request, endpoint=endpoint, form=form, admin=auth)
    streaming = is_streaming(endpoint)
    lost_reply = proxy_after
    if streaming:
        # A stream cannot be replaced once started: a fired rule truncates it half-way instead.
        post = faults.pick(endpoint, target, after_commit=True)
        if proxy_after is not None or any(r.kind != "delay" for r in post):
            ctx.abort_stream_at = sim.settings.installer_size // 2
    try:
        reply = await handler(ctx)
    except CometError as exc:
        reply = carm(exc.status, exc.message)
    if isinstance(reply, web.StreamResponse):
        if ctx.abort_stream_at is None:
            sim.counters.commit(endpoint, target)
        return reply
    if _is_success(reply):
        sim.counters.commit(endpoint, target)
        if not streaming:
            post = faults.pick(endpoint, target, after_commit=True)
            lost_reply = next((r for r in post if r.kind != "delay"), None) or proxy_after
    return await _answer(request, sim, reply, lost_reply, proxy_after)


async def _answer(
    request: web.Request,
    sim: SimContext,
    reply: Any,
    lost: FaultRule | None,
    proxy_after: FaultRule | None,
    *,
    http_status: int = 200,
) -> web.StreamResponse:
    """The reply, unless a fault (a fired rule, or the proxy) loses it on the way back."""
    if lost is not None:
        return await inject(request, sim, lost, label=_proxy_label(lost) if lost is proxy_after else None)
    return sim.json_reply(reply, status=http_status)


async def admin_api(request: web.Request) -> web.StreamResponse:
    """Entry point for `POST /api/v1/admin/{endpoint}`."""
    sim = request.app[SIM_KEY]
    sim.counters.request_started()
    try:
        return await _dispatch(request, sim)
    except ConnectionAborted:
        # The transport is gone; hand aiohttp an empty response it will fail to write, quietly.
        return web.Response(status=499)
    finally:
        sim.counters.request_finished()


async def not_post(request: web.Request) -> web.StreamResponse:
    sim = request.app[SIM_KEY]
    return sim.json_reply(carm(405, "Method not allowed: the admin API is POST only"), status=405)


async def _stamp_date(request: web.Request, response: web.StreamResponse) -> None:
    """The HTTP Date header on the simulated server's clock, which may differ from the host's."""
    response.headers[hdrs.DATE] = formatdate(request.app[SIM_KEY].state.now(), usegmt=True)


def build_app(sim: SimContext) -> web.Application:
    """The simulator's aiohttp application around `sim`'s state, faults and counters."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[SIM_KEY] = sim
    app.router.add_post(ADMIN_PREFIX + "{endpoint:.+}", admin_api)
    app.router.add_route("*", ADMIN_PREFIX + "{endpoint:.+}", not_post)
    app.on_response_prepare.append(_stamp_date)
    control.add_routes(app)
    return app
