"""A Comet user this service did not create is never adopted, read into an account or written to,
whatever the server answered; one it did create is adopted after a lost reply, never created twice.
Asserted on the simulator's state: the foreign profile (and its hash) before and after, and the
calls each user received."""

from __future__ import annotations

import copy

import grpc
import pytest
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import World
from tests.fixtures.db import expect_error

WRITES = ("add-user", "set-user-profile-hash", "set-user-profile", "request-storage-vault", "delete-user")


def seed_foreign(sim: CometSimulator, name: str) -> tuple[dict[str, object], str]:
    """A user that existed before any order (an hour old), with a device and a vault of its own."""
    sim.state.seed_user(name, "their-own-password", profile={"MaximumDevices": 1})
    record = sim.state.users[name]
    record.profile["CreateTime"] = int(record.profile["CreateTime"]) - 3600
    record.rehash()
    sim.state.seed_vault(name, size=123)
    return copy.deepcopy(sim.state.users[name].profile), sim.state.users[name].profile_hash


def assert_untouched(sim: CometSimulator, name: str, before: tuple[dict[str, object], str]) -> None:
    record = sim.state.users[name]
    assert record.profile == before[0]
    assert record.profile_hash == before[1]
    assert record.password == "their-own-password"
    for endpoint in WRITES:
        assert sim.counters.commits_for(endpoint, name) == 0, endpoint


async def test_a_name_taken_by_someone_else_gets_a_suffix_and_no_write(world: World) -> None:
    before = seed_foreign(world.sim, "taken@example.com")
    created = await world.create(
        request_id="taken-1", customer=accounts_pb2.Customer(email="taken@example.com")
    )
    account = created.account
    assert account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert account.username.startswith("taken@example.com_")
    assert account.limits_state == accounts_pb2.LIMITS_STATE_APPLIED
    assert_untouched(world.sim, "taken@example.com", before)
    ours = world.sim.state.users[account.username]
    assert ours.password == created.generated_password
    assert ours.profile["MaximumDevices"] == 2


@pytest.mark.parametrize("kind", ["http502", "reset"])
async def test_add_user_lost_before_comet_acted_on_a_foreign_name(world: World, kind: str) -> None:
    """The proxy answered before Comet saw add-user: the user found afterwards is the old one."""
    before = seed_foreign(world.sim, "carol@example.com")
    world.sim.faults.add("add-user", kind, count=1)
    created = await world.create(
        request_id="carol-1", customer=accounts_pb2.Customer(email="carol@example.com")
    )
    assert created.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert created.account.username.startswith("carol@example.com_")
    assert_untouched(world.sim, "carol@example.com", before)


@pytest.mark.parametrize("kind", ["http502", "reset"])
async def test_add_user_lost_after_comet_acted_is_adopted_once(world: World, kind: str) -> None:
    world.sim.faults.fail_after_commit("add-user", kind, count=1)
    created = await world.create(
        request_id="dave-1", customer=accounts_pb2.Customer(email="dave@example.com")
    )
    account = created.account
    assert account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert account.username == "dave@example.com"
    assert world.sim.counters.commits_for("add-user", "dave@example.com") == 1
    user = world.sim.state.users["dave@example.com"]
    assert user.password == created.generated_password
    assert user.profile["MaximumDevices"] == 2
    assert len(user.profile["Destinations"]) == 1


async def test_a_failure_before_add_user_never_lets_a_retry_adopt_a_stranger(world: World) -> None:
    """The policy lookup fails before add-user is ever sent; the caller's retry must not take the
    existing user of that name as the account's own."""
    before = seed_foreign(world.sim, "bob@example.com")
    world.sim.faults.add("policies/get", "http502", count=10)
    request = accounts_pb2.CreateAccountRequest(
        request_id="bob-1",
        product_id=world.product_id,
        customer=accounts_pb2.Customer(email="bob@example.com"),
    )
    await expect_error(world.stubs.accounts.CreateAccount(request), grpc.StatusCode.UNAVAILABLE)
    assert world.sim.counters.calls_for("add-user", "bob@example.com") == 0
    world.sim.faults.clear()
    retried = await world.stubs.accounts.CreateAccount(request)
    assert retried.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert retried.account.username.startswith("bob@example.com_")
    assert retried.generated_password
    assert world.sim.state.users[retried.account.username].password == retried.generated_password
    assert_untouched(world.sim, "bob@example.com", before)


async def test_terminating_an_order_that_never_settled_leaves_a_foreign_user_alone(world: World) -> None:
    before = seed_foreign(world.sim, "erin@example.com")
    world.sim.faults.add("policies/get", "http502", count=10)
    request = accounts_pb2.CreateAccountRequest(
        request_id="erin-1",
        product_id=world.product_id,
        customer=accounts_pb2.Customer(email="erin@example.com"),
    )
    failed = await expect_error(world.stubs.accounts.CreateAccount(request), grpc.StatusCode.UNAVAILABLE)
    account_id = failed.metadata["account_id"]
    world.sim.faults.clear()
    done = await world.stubs.accounts.TerminateAccount(accounts_pb2.TerminateAccountRequest(id=account_id))
    assert done.account.status == accounts_pb2.ACCOUNT_STATUS_TERMINATED
    assert_untouched(world.sim, "erin@example.com", before)
