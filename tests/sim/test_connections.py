"""TCP connections are counted server-side, so a client's pool limit can be verified."""

from __future__ import annotations

import asyncio

import aiohttp
from comet_provisioning.sim import CometSimulator

from .support import Api


async def _burst(sim: CometSimulator, limit: int, calls: int = 200) -> None:
    connector = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(connector=connector) as session:
        api = Api(sim, session)
        replies = await asyncio.gather(*(api.call("meta/version") for _ in range(calls)))
        assert all(reply.http_status == 200 for reply in replies)


async def _wait_closed(sim: CometSimulator) -> None:
    for _ in range(100):
        if sim.counters.open_connections == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{sim.counters.open_connections} connections still open")


async def test_pool_of_ten_never_exceeds_ten(sim: CometSimulator) -> None:
    sim.faults.latency_ms = 10
    await _burst(sim, limit=10)
    assert sim.counters.calls["meta/version"] == 200
    assert 1 < sim.counters.peak_connections <= 10
    assert sim.counters.peak_in_flight <= 10
    await _wait_closed(sim)


async def test_unlimited_pool_opens_many(sim: CometSimulator) -> None:
    sim.faults.latency_ms = 10
    await _burst(sim, limit=0, calls=100)
    assert sim.counters.peak_connections > 10
    assert sim.counters.total_connections >= sim.counters.peak_connections
    await _wait_closed(sim)


async def test_keep_alive_reuses_one_connection(sim: CometSimulator, api: Api) -> None:
    for _ in range(5):
        await api.body("meta/version")
    assert sim.counters.total_connections == 1
    assert sim.counters.open_connections == 1
