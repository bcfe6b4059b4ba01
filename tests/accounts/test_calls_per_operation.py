"""How many Comet calls each operation makes, on a current server (25.6.8+: write replies carry the
new profile and hash) and on an old one. The original WHMCS module makes 6-7 for a create (name
check, policy check, add-user, vault, read, write), 2 for a package change and 2 for a suspend."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from comet_provisioning.config import Settings
from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import World, make_world
from tests.fixtures.sim import running_sim

CREATE_CURRENT = {"add-user": 1, "request-storage-vault": 1, "set-user-profile-hash": 1}
CREATE_OLD = {**CREATE_CURRENT, "get-user-profile-and-hash": 1}
READ_WRITE = {"get-user-profile-and-hash": 1, "set-user-profile-hash": 1}


@pytest.fixture(params=[("reference", CREATE_CURRENT), ("legacy", CREATE_OLD)], ids=["current", "old"])
async def server(
    request: pytest.FixtureRequest, account_settings: Settings
) -> AsyncIterator[tuple[World, dict[str, int]]]:
    behaviour, create_calls = request.param
    async with running_sim(behaviour) as sim, make_world(sim, account_settings) as world:
        await world.create(request_id="warm-up")  # learns the server, creates the policy group
        yield world, create_calls


async def test_calls_per_create_change_package_and_suspend(server: tuple[World, dict[str, int]]) -> None:
    world, create_calls = server
    counters = world.sim.counters

    before = counters.snapshot()
    created = await world.create(
        request_id="counted", customer=accounts_pb2.Customer(email="calls@example.com")
    )
    assert counters.since(before) == create_calls
    account_id = created.account.id

    before = counters.snapshot()
    await world.stubs.accounts.ChangePackage(
        accounts_pb2.ChangePackageRequest(id=account_id, options={"number_of_devices": 5})
    )
    assert counters.since(before) == READ_WRITE

    before = counters.snapshot()
    await world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=account_id))
    assert counters.since(before) == READ_WRITE
