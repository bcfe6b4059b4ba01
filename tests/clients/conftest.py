"""The service in-process with the simulator registered (tests/accounts' World), and the typed
client on a channel to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from comet_provisioning.config import Settings
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client import ProvisioningClient
from comet_provisioning_client.v1 import catalog_pb2, servers_pb2

from tests.accounts.conftest import World, register_sim, started
from tests.fixtures.db import service_settings


@pytest.fixture
def account_settings(tmp_path: Path) -> Settings:
    return service_settings(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}", tmp_path / "data")


@pytest.fixture
async def world(comet_sim: CometSimulator, account_settings: Settings) -> AsyncIterator[World]:
    async with started(account_settings) as stubs:
        group = await stubs.servers.CreateServerGroup(
            servers_pb2.CreateServerGroupRequest(
                server_group=servers_pb2.ServerGroup(name="main", failover=True)
            )
        )
        server_id = await register_sim(stubs, comet_sim, group_id=group.server_group.id)
        world = World(stubs, comet_sim, group.server_group.id, server_id, "")
        world.product_id = await world.product(
            "Backup 100",
            policy_group_mode=catalog_pb2.POLICY_GROUP_MODE_CREATE_NEW,
            storage_provider_id=next(iter(comet_sim.state.providers)),
        )
        yield world


@pytest.fixture
async def client(world: World) -> AsyncIterator[ProvisioningClient]:
    async with ProvisioningClient(f"127.0.0.1:{world.stubs.port}") as typed:
        yield typed
