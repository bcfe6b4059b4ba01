"""A Comet server's queue is bounded: beyond its pool and max_waiting_per_server, calls are refused
at once with RESOURCE_EXHAUSTED instead of queueing until memory runs out."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator

import grpc
import pytest
from comet_provisioning.config import Settings
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2, servers_pb2

from tests.accounts.conftest import World, register_sim, started
from tests.fixtures.db import rich_error


@pytest.fixture
async def small_world(comet_sim: CometSimulator, account_settings: Settings) -> AsyncIterator[World]:
    settings = dataclasses.replace(account_settings, max_waiting_per_server=3)
    async with started(settings) as stubs:
        group = await stubs.servers.CreateServerGroup(
            servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="busy"))
        )
        server_id = await register_sim(stubs, comet_sim, group_id=group.server_group.id, max_connections=2)
        world = World(stubs, comet_sim, group.server_group.id, server_id, "")
        world.product_id = await world.product("busy")
        yield world


async def test_calls_beyond_the_servers_queue_are_refused_at_once(small_world: World) -> None:
    await small_world.create(customer=accounts_pb2.Customer(email="warm@x.io"))  # learns the pool size
    small_world.sim.faults.latency_ms = 150
    outcomes: Counter[str] = Counter()

    async def order(i: int) -> None:
        try:
            await small_world.create(customer=accounts_pb2.Customer(email=f"busy{i}@x.io"))
            outcomes["OK"] += 1
        except grpc.aio.AioRpcError as err:
            rich = rich_error(err)
            outcomes[f"{rich.code.name}:{rich.reason}"] += 1

    await asyncio.gather(*(order(i) for i in range(20)))
    assert outcomes["RESOURCE_EXHAUSTED:COMET_SERVER_BUSY"] > 0
    assert outcomes["OK"] >= 5  # 2 running + 3 waiting at any time get through
    assert set(outcomes) <= {"OK", "RESOURCE_EXHAUSTED:COMET_SERVER_BUSY"}
    # A refused order leaves nothing: no record, no Comet user.
    listed = await small_world.stubs.accounts.ListAccounts(accounts_pb2.ListAccountsRequest(page_size=100))
    assert len(listed.accounts) == outcomes["OK"] + 1
    assert {a.status for a in listed.accounts} == {accounts_pb2.ACCOUNT_STATUS_ACTIVE}
    assert set(small_world.sim.state.users) == {a.username for a in listed.accounts}
