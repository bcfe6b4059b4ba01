"""The per-server connection limit, measured where it matters: on the server's side of the socket."""

from __future__ import annotations

import asyncio

import pytest
from comet_provisioning.comet import CometClientRegistry
from comet_provisioning.sim import CometSimulator

from .conftest import SimFactory
from .support import RecordingObserver, sim_client, sim_config

pytestmark = pytest.mark.timeout(30)


async def test_200_concurrent_calls_never_open_more_than_10_connections(
    comet_sim: CometSimulator, observer: RecordingObserver
) -> None:
    comet_sim.state.seed_user("pooled01")
    comet_sim.faults.latency_ms = 5  # long enough for calls to pile up behind the pool
    comet_sim.counters.reset()

    async with sim_client(comet_sim, observer, max_connections=10) as client:
        results = await asyncio.gather(
            *(client.get_user_profile("pooled01") if i % 2 else client.meta_version() for i in range(200))
        )

    counters = comet_sim.counters
    assert len(results) == 200
    assert counters.calls["get-user-profile"] + counters.calls["meta/version"] == 200
    assert counters.peak_connections <= 10
    assert counters.peak_connections >= 5  # the calls really ran in parallel
    assert counters.peak_in_flight <= 10
    assert counters.total_connections <= 10  # kept alive and reused, not reopened per call
    assert observer.outcomes() == ["ok"] * 200
    assert max(r.pool_wait_s for r in observer.records) > 0  # queued calls measured their wait


async def test_the_limit_holds_for_mutating_read_modify_write_too(comet_sim: CometSimulator) -> None:
    names = [f"rmw{i:05d}" for i in range(50)]
    for name in names:
        comet_sim.state.seed_user(name)
    comet_sim.faults.latency_ms = 2
    comet_sim.counters.reset()

    async with sim_client(comet_sim, max_connections=4) as client:
        await asyncio.gather(
            *(client.update_user_profile(n, lambda p: p.update(MaximumDevices=7)) for n in names)
        )

    assert comet_sim.counters.peak_connections <= 4
    assert comet_sim.counters.committed["set-user-profile-hash"] == 50
    assert all(comet_sim.state.users[n].profile["MaximumDevices"] == 7 for n in names)


async def test_each_server_has_its_own_pool(make_loopback_sim: SimFactory) -> None:
    first, second = await make_loopback_sim(latency_ms=3), await make_loopback_sim(latency_ms=3)
    registry = CometClientRegistry()
    try:
        one = await registry.get(sim_config(first, server_id="one", max_connections=3))
        two = await registry.get(sim_config(second, server_id="two", max_connections=6))
        await asyncio.gather(*(c.list_users() for c in (one, two) for _ in range(100)))
    finally:
        await registry.aclose()

    assert first.counters.calls["list-users"] == second.counters.calls["list-users"] == 100
    assert first.counters.peak_connections <= 3
    assert second.counters.peak_connections <= 6
    assert second.counters.peak_connections > 3  # one server's limit does not throttle the other
