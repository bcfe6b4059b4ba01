"""With `repair_drift` on, the usage sync puts quotas and policy back through the hash-checked
update, under the account guard, and logs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from comet_provisioning.config import Settings, replace
from comet_provisioning_client.v1 import accounts_pb2

from tests.fixtures.db import service_settings

from .conftest import GIB, World, active, get, profile, sync


@pytest.fixture
def account_settings(database_url: str, tmp_path: Path) -> Settings:
    return replace(service_settings(database_url, tmp_path / "data"), repair_drift=True)


async def test_a_changed_profile_is_repaired_and_unknown_fields_survive(world: World) -> None:
    a = await active(world)
    b = await active(world, customer=accounts_pb2.Customer(email="b@example.com"))
    policy_id = profile(world, a.username)["PolicyID"]
    record = world.sim.state.users[a.username]
    record.profile["MaximumDevices"] = 9
    record.profile["AllProtectedItemsQuotaEnabled"] = False
    record.profile["PolicyID"] = ""
    record.profile["SomeFutureField"] = {"kept": True}
    record.touch()
    world.sim.counters.reset()

    [result] = (await sync(world)).results

    assert result.accounts_repaired == 1  # b was in step: not written
    assert world.sim.counters.calls["list-users-full"] == 1
    assert world.sim.counters.calls_for("set-user-profile-hash", b.username) == 0
    repaired = profile(world, a.username)
    assert repaired["MaximumDevices"] == 2
    assert (repaired["AllProtectedItemsQuotaEnabled"], repaired["AllProtectedItemsQuotaBytes"]) == (
        True,
        100 * GIB,
    )
    assert repaired["PolicyID"] == policy_id
    assert repaired["SomeFutureField"] == {"kept": True}
    account = await get(world, a.id)
    assert not account.usage.drift_detected
    events = await world.stubs.accounts.ListAccountEvents(
        accounts_pb2.ListAccountEventsRequest(account_id=a.id), timeout=10
    )
    assert ("usage_sync", "apply_quotas") in [(e.operation, e.step) for e in events.events]
    # In step now: the next sync writes nothing.
    world.sim.counters.reset()
    assert (await sync(world)).results[0].accounts_repaired == 0
    assert world.sim.counters.calls["set-user-profile-hash"] == 0


async def test_a_suspended_account_stays_suspended_when_repaired(world: World) -> None:
    a = await active(world)
    await world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=a.id), timeout=10)
    record = world.sim.state.users[a.username]
    record.profile["MaximumDevices"] = 0
    record.touch()
    [result] = (await sync(world)).results
    assert result.accounts_repaired == 1
    assert profile(world, a.username)["MaximumDevices"] == 2
    assert profile(world, a.username)["IsSuspended"] is True


async def test_a_suspension_changed_on_comet_is_put_back_both_ways(world: World) -> None:
    active_one = await active(world)
    suspended_one = await active(world, customer=accounts_pb2.Customer(email="s@example.com"))
    await world.stubs.accounts.SuspendAccount(
        accounts_pb2.SuspendAccountRequest(id=suspended_one.id), timeout=10
    )
    for username, value in ((active_one.username, True), (suspended_one.username, False)):
        record = world.sim.state.users[username]
        record.profile["IsSuspended"] = value  # flipped by hand on Comet
        record.touch()

    [result] = (await sync(world)).results

    assert result.accounts_repaired == 2
    assert profile(world, active_one.username)["IsSuspended"] is False
    assert profile(world, suspended_one.username)["IsSuspended"] is True
    for account_id in (active_one.id, suspended_one.id):
        assert not (await get(world, account_id)).usage.drift_detected
        events = await world.stubs.accounts.ListAccountEvents(
            accounts_pb2.ListAccountEventsRequest(account_id=account_id), timeout=10
        )
        assert ("usage_sync", "repair_suspension") in [(e.operation, e.step) for e in events.events]
    world.sim.counters.reset()
    assert (await sync(world)).results[0].accounts_repaired == 0  # in step now
    assert world.sim.counters.calls["set-user-profile-hash"] == 0
