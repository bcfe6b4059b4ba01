"""Defects a design review found in the accounts core's tangles, each checked where it lived: twin
manual orders on PostgreSQL, a server slot taken before the account's lock, validation one field at a
time, a lease renewer that failed silently, request ids pruned only at start-up."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from comet_provisioning.config import Settings
from comet_provisioning.core.accounts.leases import AccountGuard
from comet_provisioning.core.accounts.model import Account, Customer, Status
from comet_provisioning.core.errors import ServiceError
from comet_provisioning.core.request_ids import RequestIds
from comet_provisioning.crypto import SecretBox
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2, catalog_pb2, servers_pb2

from tests.accounts.conftest import World, make_world
from tests.fakes.memory_store import MemoryStore
from tests.fixtures.db import expect_error, rich_error, service_settings

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
async def any_db_world(comet_sim: CometSimulator, database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with make_world(comet_sim, service_settings(database_url, tmp_path / "data")) as world:
        yield world


async def test_twin_orders_of_a_manual_product_answer_the_same_account(any_db_world: World) -> None:
    world = any_db_world
    product_id = await world.product("manual", setup_mode=catalog_pb2.SETUP_MODE_MANUAL)
    request = accounts_pb2.CreateAccountRequest(
        request_id="manual-twins",
        product_id=product_id,
        customer=accounts_pb2.Customer(email="twin@example.com"),
    )
    replies = await asyncio.gather(*(world.stubs.accounts.CreateAccount(request) for _ in range(8)))
    assert len({reply.account.id for reply in replies}) == 1
    assert {reply.account.status for reply in replies} == {accounts_pb2.ACCOUNT_STATUS_PENDING}
    listed = await world.stubs.accounts.ListAccounts(accounts_pb2.ListAccountsRequest(page_size=50))
    assert len(listed.accounts) == 1


async def test_every_bad_field_of_an_order_is_named_at_once(world: World) -> None:
    rich = await expect_error(
        world.stubs.accounts.CreateAccount(
            accounts_pb2.CreateAccountRequest(
                product_id=world.product_id,
                customer=accounts_pb2.Customer(email="not an address"),
                options={"number_of_devices": 99},
                password="short",
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert {"options[number_of_devices]", "password", "customer.email"} <= set(rich.fields)
    assert world.sim.state.users == {}


@pytest.fixture
async def one_slot_world(comet_sim: CometSimulator, account_settings: Settings) -> AsyncIterator[World]:
    settings = dataclasses.replace(account_settings, max_waiting_per_server=2)
    async with make_world(comet_sim, settings) as world:
        yield world


async def test_calls_waiting_for_one_account_hold_no_place_in_the_servers_queue(
    one_slot_world: World,
) -> None:
    """Six suspends queued on account A must not take the server's few places away from B."""
    world = one_slot_world
    await world.stubs.servers.UpdateServer(
        servers_pb2.UpdateServerRequest(
            server=servers_pb2.Server(id=world.server_id, max_connections=1),
            update_mask={"paths": ["max_connections"]},
        )
    )
    a = (await world.create(request_id="a", customer=accounts_pb2.Customer(email="a@example.com"))).account
    b = (await world.create(request_id="b", customer=accounts_pb2.Customer(email="b@example.com"))).account
    world.sim.faults.latency_ms = 200
    on_a = [
        world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=a.id, reason=f"r{i}"))
        for i in range(6)
    ]
    waiting = asyncio.gather(*on_a, return_exceptions=True)
    await asyncio.sleep(0.05)
    try:
        suspended = await world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=b.id))
    except grpc.aio.AioRpcError as err:
        pytest.fail(f"B was refused while A's calls waited: {rich_error(err).reason}")
    assert suspended.account.status == accounts_pb2.ACCOUNT_STATUS_SUSPENDED
    await waiting


def _account(account_id: str) -> Account:
    return Account(
        id=account_id,
        product_id="p",
        customer=Customer(email="x@example.com"),
        options={},
        status=Status.PENDING,
        create_time=NOW,
        update_time=NOW,
    )


async def test_a_lost_lease_stops_the_work_instead_of_going_on() -> None:
    store = MemoryStore()
    async with store.write() as uow:
        await uow.accounts.add(_account("acc"))
    guard = AccountGuard(store, "me", dt.timedelta(seconds=0.3))

    async def work_while_another_replica_takes_it() -> None:
        async with guard.hold("acc"):
            # Another replica takes the account (as if this one had stalled past its lease).
            store.tables.leases["acc"] = ("them", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
            await asyncio.sleep(5)  # cancelled at the next renewal

    with pytest.raises(ServiceError) as lost:
        await work_while_another_replica_takes_it()
    assert lost.value.reason == "ACCOUNT_LEASE_LOST"
    assert store.tables.leases["acc"][0] == "them"  # not released from under its new owner


class SteppedClock:
    """A clock a test moves: `sleep` advances it instead of waiting."""

    def __init__(self, now: dt.datetime) -> None:
        self.current = now
        self.sleeps = 0

    def now(self) -> dt.datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.current += dt.timedelta(seconds=seconds)
        if self.sleeps >= 3:
            raise asyncio.CancelledError


async def test_request_ids_are_forgotten_on_a_schedule_not_only_at_start_up() -> None:
    store = MemoryStore()
    clock = SteppedClock(NOW)
    request_ids = RequestIds(store, SecretBox(b"k" * 32), retention=dt.timedelta(hours=1), clock=clock)
    async with store.write() as uow:
        await request_ids.record(uow, "/m", "r-1", "f", b"one")
    store.tables.requests[("/m", "r-1")] = (store.tables.requests[("/m", "r-1")][0], NOW)
    with pytest.raises(asyncio.CancelledError):
        await request_ids.prune_forever(3600)  # a long-running replica, three hours
    assert ("/m", "r-1") not in store.tables.requests
