"""What the contract leaves open (comet-api.md §6), decided from Comet's state: a missing user, a
missing policy group, a server's release. Runs once per simulator profile, so each reading of the
open replies (400 or 403 for an unknown user, 200/400/500 for an unknown policy, English or Spanish)
is covered."""

from __future__ import annotations

import asyncio

import grpc
from comet_provisioning.config import Settings
from comet_provisioning_client.v1 import accounts_pb2, servers_pb2

from tests.accounts.conftest import World, make_world
from tests.fixtures.db import expect_error
from tests.fixtures.sim import running_sim


async def test_a_create_new_policy_group_product_creates_its_policy_whatever_the_reply(world: World) -> None:
    created = await world.create(request_id="policy-1")
    assert created.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    policy_id = world.sim.state.users[created.account.username].profile["PolicyID"]
    assert policy_id in world.sim.state.policies
    events = await world.stubs.accounts.ListAccountEvents(
        accounts_pb2.ListAccountEventsRequest(account_id=created.account.id, page_size=100)
    )
    steps = [(e.step, e.comet_endpoint) for e in reversed(events.events) if e.step == "ensure_policy"]
    assert steps == [("ensure_policy", "policies/get"), ("ensure_policy", "policies/set")]


async def test_a_comet_user_deleted_by_hand_is_named_not_blamed_on_credentials(world: World) -> None:
    created = await world.create(request_id="gone-1")
    del world.sim.state.users[created.account.username]
    rich = await expect_error(
        world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=created.account.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "COMET_USER_NOT_FOUND",
    )
    assert rich.metadata["username"] == created.account.username
    terminated = await world.stubs.accounts.TerminateAccount(
        accounts_pb2.TerminateAccountRequest(id=created.account.id)
    )
    assert terminated.account.status == accounts_pb2.ACCOUNT_STATUS_TERMINATED


async def test_an_upgrade_of_the_server_shows_in_get_server(account_settings: Settings) -> None:
    """An old server (20.9.0) upgraded while the service runs: a write reply that only 25.6.8+ gives
    makes the client learn the release again, and GetServer shows it without a connection test."""
    async with running_sim("legacy") as sim, make_world(sim, account_settings) as world:
        created = await world.create(request_id="upgrade-1")
        server = await world.stubs.servers.GetServer(servers_pb2.GetServerRequest(id=world.server_id))
        assert server.server.comet_version == "20.9.0"
        sim.state.set_version("25.9.0")
        await world.stubs.accounts.ChangePackage(
            accounts_pb2.ChangePackageRequest(id=created.account.id, options={"number_of_devices": 5})
        )
        await world.stubs.accounts.ChangePackage(
            accounts_pb2.ChangePackageRequest(id=created.account.id, options={"number_of_devices": 6})
        )
        async with asyncio.timeout(5):
            while True:
                server = await world.stubs.servers.GetServer(servers_pb2.GetServerRequest(id=world.server_id))
                if server.server.comet_version == "25.9.0":
                    break
                await asyncio.sleep(0.05)
