"""The service in-process with the simulator registered (tests/accounts' World), and the typed
client on a channel to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from comet_provisioning_client import ProvisioningClient

from tests.accounts.conftest import World, account_settings, world

__all__ = ["account_settings", "client", "world"]


@pytest.fixture
async def client(world: World) -> AsyncIterator[ProvisioningClient]:
    async with ProvisioningClient(f"127.0.0.1:{world.stubs.port}") as typed:
        yield typed
