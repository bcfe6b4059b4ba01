"""The module commands end to end through gRPC, asserting on what the simulated Comet holds."""

from __future__ import annotations

import grpc
from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import World
from tests.fixtures.db import expect_error

GIB = 1024**3


async def test_full_lifecycle_reaches_comet(world: World) -> None:
    sim, accounts = world.sim, world.stubs.accounts
    created = await world.create(
        request_id="order-1",
        options={"number_of_devices": 3, "protected_item_quota_gb": 50, "storage_vault_quota_gb": 200},
    )
    account = created.account
    assert account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert account.username == "alice@example.com"
    assert len(created.generated_password) >= 16
    user = sim.state.users[account.username]
    profile = user.profile
    assert profile["MaximumDevices"] == 3
    assert profile["AllProtectedItemsQuotaEnabled"] is True
    assert profile["AllProtectedItemsQuotaBytes"] == 50 * GIB
    vaults = list(profile["Destinations"].values())
    assert len(vaults) == 1
    assert vaults[0]["DestinationType"] == 1003
    assert vaults[0]["StorageLimitEnabled"] is True
    assert vaults[0]["StorageLimitBytes"] == 200 * GIB
    policy_id = profile["PolicyID"]
    assert policy_id
    assert policy_id in sim.state.policies
    assert sim.state.policies[policy_id].group_policy["Policy"]["PreventChangeAccountPassword"] is True
    assert user.password == created.generated_password
    assert user.recovery_code

    suspended = await accounts.SuspendAccount(
        accounts_pb2.SuspendAccountRequest(id=account.id, reason="unpaid")
    )
    assert suspended.account.status == accounts_pb2.ACCOUNT_STATUS_SUSPENDED
    assert sim.state.users[account.username].profile["IsSuspended"] is True
    again = await accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=account.id))
    assert again.account.status == accounts_pb2.ACCOUNT_STATUS_SUSPENDED

    active = await accounts.UnsuspendAccount(accounts_pb2.UnsuspendAccountRequest(id=account.id))
    assert active.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert sim.state.users[account.username].profile["IsSuspended"] is False

    await accounts.ChangePassword(
        accounts_pb2.ChangePasswordRequest(id=account.id, new_password="n3w-Secret!")
    )
    assert sim.state.users[account.username].password == "n3w-Secret!"

    changed = await accounts.ChangePackage(
        accounts_pb2.ChangePackageRequest(
            id=account.id,
            options={"number_of_devices": 7, "protected_item_quota_gb": 0, "storage_vault_quota_gb": 300},
        )
    )
    assert changed.account.options["number_of_devices"] == 7
    profile = sim.state.users[account.username].profile
    assert profile["MaximumDevices"] == 7
    assert profile["AllProtectedItemsQuotaEnabled"] is False
    assert all(v["StorageLimitBytes"] == 300 * GIB for v in profile["Destinations"].values())

    terminated = await accounts.TerminateAccount(
        accounts_pb2.TerminateAccountRequest(id=account.id, uninstall_clients=True)
    )
    assert terminated.account.status == accounts_pb2.ACCOUNT_STATUS_TERMINATED
    assert account.username not in sim.state.users
    again_terminated = await accounts.TerminateAccount(accounts_pb2.TerminateAccountRequest(id=account.id))
    assert again_terminated.account.status == accounts_pb2.ACCOUNT_STATUS_TERMINATED
    await expect_error(
        accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=account.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_ACCOUNT_STATUS",
    )
    events = await accounts.ListAccountEvents(accounts_pb2.ListAccountEventsRequest(account_id=account.id))
    steps = [(e.operation, e.step) for e in events.events]
    assert ("create", "add_user") in steps
    assert ("terminate", "delete_user") in steps


async def test_create_replay_returns_the_first_account(world: World) -> None:
    first = await world.create(request_id="same")
    second = await world.create(request_id="same")
    assert second.account.id == first.account.id
    # Within its retention the generated password is handed to every retry (a reply may be lost).
    assert second.generated_password == first.generated_password
    assert world.sim.counters.calls_for("add-user", first.account.username) == 1
    await expect_error(
        world.create(request_id="same", options={"number_of_devices": 5}),
        grpc.StatusCode.INVALID_ARGUMENT,
        "REQUEST_ID_REUSED",
    )


async def test_bad_orders_are_rejected_and_leave_nothing(world: World) -> None:
    rich = await expect_error(
        world.create(options={"number_of_devices": 99, "nonsense": 1}, password="short"),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "options[number_of_devices]" in rich.fields or "options[nonsense]" in rich.fields
    listed = await world.stubs.accounts.ListAccounts(accounts_pb2.ListAccountsRequest())
    assert list(listed.accounts) == []
    assert world.sim.state.users == {}


async def test_suspend_and_unsuspend_put_comet_in_step_even_when_the_status_already_matches(
    world: World,
) -> None:
    """A repeated Suspend (or Unsuspend) fixes IsSuspended if someone changed it on Comet by hand,
    and writes nothing when Comet already agrees."""
    sim, accounts = world.sim, world.stubs.accounts
    account = (await world.create(request_id="order-reconcile")).account
    await accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=account.id))
    record = sim.state.users[account.username]
    record.profile["IsSuspended"] = False  # unsuspended by hand on Comet
    record.touch()

    await accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=account.id))
    assert sim.state.users[account.username].profile["IsSuspended"] is True

    sim.counters.reset()
    again = await accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=account.id))
    assert again.account.status == accounts_pb2.ACCOUNT_STATUS_SUSPENDED
    assert sim.counters.calls["set-user-profile-hash"] == 0  # Comet already agreed: read only
    events = await accounts.ListAccountEvents(
        accounts_pb2.ListAccountEventsRequest(account_id=account.id, page_size=1)
    )
    [latest] = events.events
    assert (latest.operation, latest.step) == ("suspend", "set_suspended")
    assert latest.outcome == accounts_pb2.EVENT_OUTCOME_SKIPPED

    await accounts.UnsuspendAccount(accounts_pb2.UnsuspendAccountRequest(id=account.id))
    record = sim.state.users[account.username]
    record.profile["IsSuspended"] = True  # suspended by hand on Comet
    record.touch()
    await accounts.UnsuspendAccount(accounts_pb2.UnsuspendAccountRequest(id=account.id))
    assert sim.state.users[account.username].profile["IsSuspended"] is False
