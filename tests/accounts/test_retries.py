"""An order that meets a transient failure stays PENDING and is finished in the background; one
that meets a failure no retry can fix ends FAILED; either way a Comet user this service created
carries the product's limits or is suspended. A generated password reaches the caller once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import grpc
import pytest
from comet_provisioning.config import Settings
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import World, make_world
from tests.fixtures.db import expect_error

GIB = 1024**3


@pytest.fixture
def account_settings(account_settings: Settings) -> Settings:
    """Retries due at once and a sweep every 0.1 s, so background work finishes within a test."""
    return dataclasses.replace(account_settings, resume_interval_s=0.1, provision_retry_delay_s=0.01)


async def wait_for(
    world: World, account_id: str, status: int, timeout_s: float = 10.0
) -> accounts_pb2.Account:
    async with asyncio.timeout(timeout_s):
        while True:
            got = await world.stubs.accounts.GetAccount(accounts_pb2.GetAccountRequest(id=account_id))
            if got.account.status == status:
                return got.account
            await asyncio.sleep(0.05)


def order(world: World, request_id: str, email: str) -> accounts_pb2.CreateAccountRequest:
    return accounts_pb2.CreateAccountRequest(
        request_id=request_id, product_id=world.product_id, customer=accounts_pb2.Customer(email=email)
    )


async def test_a_transient_failure_is_finished_in_the_background_and_the_password_handed_over(
    world: World,
) -> None:
    world.sim.faults.add("request-storage-vault", "http502", count=1)
    request = order(world, "retry-1", "frank@example.com")
    failed = await expect_error(world.stubs.accounts.CreateAccount(request), grpc.StatusCode.UNAVAILABLE)
    assert failed.metadata["next_attempt_time"]
    account = await wait_for(world, failed.metadata["account_id"], accounts_pb2.ACCOUNT_STATUS_ACTIVE)
    assert account.limits_state == accounts_pb2.LIMITS_STATE_APPLIED
    assert not account.HasField("next_attempt_time")
    user = world.sim.state.users["frank@example.com"]
    assert user.profile["MaximumDevices"] == 2
    assert len(user.profile["Destinations"]) == 1
    assert world.sim.counters.commits_for("add-user", "frank@example.com") == 1

    # The sweep finished it, so no reply has carried the generated password yet: the retry does,
    # and so does every retry within the retention (a reply may never reach its caller).
    retried = await world.stubs.accounts.CreateAccount(request)
    assert retried.generated_password
    assert user.password == retried.generated_password
    again = await world.stubs.accounts.CreateAccount(request)
    assert again.generated_password == retried.generated_password
    assert again.account.id == retried.account.id


async def test_a_refusal_after_add_user_ends_failed_with_the_limits_applied(world: World) -> None:
    world.sim.state.providers.clear()  # the product's storage template is gone from the server
    request = order(world, "refused-1", "gina@example.com")
    failed = await expect_error(
        world.stubs.accounts.CreateAccount(request), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert failed.metadata["step"] == "request_vault"
    got = await world.stubs.accounts.GetAccount(
        accounts_pb2.GetAccountRequest(id=failed.metadata["account_id"])
    )
    assert got.account.status == accounts_pb2.ACCOUNT_STATUS_FAILED
    assert got.account.limits_state == accounts_pb2.LIMITS_STATE_APPLIED
    profile = world.sim.state.users["gina@example.com"].profile
    assert profile["MaximumDevices"] == 2
    assert profile["AllProtectedItemsQuotaBytes"] == 100 * GIB
    assert profile["PolicyID"]
    assert profile["IsSuspended"] is False


async def test_limits_that_cannot_be_applied_leave_the_user_suspended_until_provisioned(world: World) -> None:
    world.sim.faults.add("set-user-profile-hash", "status500", count=2)
    request = order(world, "suspend-1", "hank@example.com")
    failed = await expect_error(
        world.stubs.accounts.CreateAccount(request), grpc.StatusCode.FAILED_PRECONDITION
    )
    account_id = failed.metadata["account_id"]
    got = await world.stubs.accounts.GetAccount(accounts_pb2.GetAccountRequest(id=account_id))
    assert got.account.status == accounts_pb2.ACCOUNT_STATUS_FAILED
    assert got.account.limits_state == accounts_pb2.LIMITS_STATE_SUSPENDED
    assert world.sim.state.users["hank@example.com"].profile["IsSuspended"] is True

    provisioned = await world.stubs.accounts.ProvisionAccount(
        accounts_pb2.ProvisionAccountRequest(id=account_id)
    )
    assert provisioned.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert provisioned.account.limits_state == accounts_pb2.LIMITS_STATE_APPLIED
    profile = world.sim.state.users["hank@example.com"].profile
    assert profile["IsSuspended"] is False
    assert profile["MaximumDevices"] == 2


@pytest.fixture
async def no_retry_world(profiled_sim: CometSimulator, account_settings: Settings) -> AsyncIterator[World]:
    async with make_world(
        profiled_sim, dataclasses.replace(account_settings, provision_retry_window_s=0)
    ) as world:
        yield world


async def test_past_the_deadline_a_transient_failure_ends_failed_with_limits(no_retry_world: World) -> None:
    world = no_retry_world
    world.sim.faults.add("request-storage-vault", "http502", count=1)
    failed = await expect_error(
        world.stubs.accounts.CreateAccount(order(world, "late-1", "ivan@example.com")),
        grpc.StatusCode.UNAVAILABLE,
    )
    got = await world.stubs.accounts.GetAccount(
        accounts_pb2.GetAccountRequest(id=failed.metadata["account_id"])
    )
    assert got.account.status == accounts_pb2.ACCOUNT_STATUS_FAILED
    assert got.account.limits_state == accounts_pb2.LIMITS_STATE_APPLIED
    assert world.sim.state.users["ivan@example.com"].profile["MaximumDevices"] == 2


async def test_listing_while_orders_arrive_never_repeats_an_account(world: World) -> None:
    for i in range(5):
        await world.create(request_id=f"page-{i}", customer=accounts_pb2.Customer(email=f"p{i}@example.com"))
    seen: list[str] = []
    token = ""
    extra = 0
    while True:
        page = await world.stubs.accounts.ListAccounts(
            accounts_pb2.ListAccountsRequest(page_size=2, page_token=token)
        )
        seen += [account.id for account in page.accounts]
        if extra < 3:  # new orders between pages
            await world.create(
                request_id=f"late-{extra}", customer=accounts_pb2.Customer(email=f"late{extra}@example.com")
            )
            extra += 1
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert len(seen) == 8
