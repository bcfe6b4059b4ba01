"""The reconcile logic on its own: the accounts core over the in-memory store (no database, no gRPC),
against the simulator. Fast, so the decisions that matter most are checked in many variations:
whose a Comet user is, what an unknown outcome becomes, what the sweep picks up."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from comet_provisioning.comet import CometClient, CometServerConfig
from comet_provisioning.core.accounts.model import Customer, LimitsState, Status, StepState
from comet_provisioning.core.accounts.ownership import CLOCK_TOLERANCE_MS, AttemptWindow, Ownership, judge
from comet_provisioning.core.accounts.repository import GroupPlacement
from comet_provisioning.core.accounts.retry_schedule import RetrySchedule
from comet_provisioning.core.accounts.service import Accounts
from comet_provisioning.core.accounts.validation import Order
from comet_provisioning.core.errors import ServiceError
from comet_provisioning.core.models import Product, ProductOption
from comet_provisioning.core.request_ids import RequestIds
from comet_provisioning.crypto import SecretBox
from comet_provisioning.sim import CometSimulator

from tests.fakes.memory_store import MemoryServer, MemoryStore
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)

# -- pure rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("create_time_s", "verdict"),
    [
        (1000, Ownership.OURS),  # inside the window
        (1000 - CLOCK_TOLERANCE_MS // 1000, Ownership.OURS),  # at the tolerance
        (990, Ownership.FOREIGN),  # before the first attempt
        (1100, Ownership.FOREIGN),  # after the last attempt could have taken effect
    ],
)
def test_ownership_is_the_create_time_inside_the_attempt_window(
    create_time_s: int, verdict: Ownership
) -> None:
    window = AttemptWindow(start_ms=1_000_000, end_ms=1_030_000)
    assert judge({"CreateTime": create_time_s}, window) is verdict


def test_a_user_without_create_time_or_without_any_attempt_is_not_ours() -> None:
    assert judge({}, AttemptWindow(0, 10**15)) is Ownership.UNPROVABLE
    assert judge({"CreateTime": True}, AttemptWindow(0, 10**15)) is Ownership.UNPROVABLE
    assert judge({"CreateTime": 1000}, None) is Ownership.FOREIGN


def test_the_retry_schedule_backs_off_to_a_cap_within_its_window() -> None:
    schedule = RetrySchedule(
        first_delay=dt.timedelta(seconds=5), max_delay=dt.timedelta(minutes=10), window=dt.timedelta(hours=1)
    )
    delays = [(schedule.next_attempt(NOW, n) - NOW).total_seconds() for n in range(1, 12)]
    assert 2.5 <= delays[0] <= 5
    assert all(d <= 600 for d in delays)
    assert delays[-1] >= 300  # capped, with jitter down to half
    assert schedule.deadline(NOW) == NOW + dt.timedelta(hours=1)


# -- the core over the in-memory store -------------------------------------------------------------


class OneServer:
    """CometClients for one simulator registered as server "s1" of group "g1"."""

    def __init__(self, client: CometClient) -> None:
        self._client = client

    async def client(self, server_id: str) -> CometClient:
        return self._client

    def cached(self, server_id: str) -> CometClient | None:
        return self._client

    def server_down(self, server_id: str) -> bool:
        return False


class OneProduct:
    def __init__(self, product: Product) -> None:
        self.product_record = product

    async def product(self, product_id: str) -> Product:
        return self.product_record


def backup_product(provider: str) -> Product:
    return Product(
        id="p1",
        name="Backup",
        description="",
        currency_code="EUR",
        base_price_minor=0,
        server_group_id="g1",
        policy_group_mode="NONE",
        policy_id="",
        storage_provider_id=provider,
        require_password_change=False,
        setup_mode="ON_ORDER",
        options=[ProductOption("number_of_devices", "Devices", 1, 10, 3, 0, False)],
        create_time=NOW,
        update_time=NOW,
    )


@dataclass
class Core:
    store: MemoryStore
    accounts: Accounts
    sim: CometSimulator


@pytest.fixture
async def core() -> AsyncIterator[Core]:
    sim = CometSimulator(admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD, seed=7)
    await sim.start(host="127.0.0.1", port=0)
    config = CometServerConfig(
        server_id="s1", base_url=sim.base_url, username=SIM_ADMIN, password=SIM_PASSWORD
    )
    client = CometClient(config)
    store = MemoryStore()
    store.tables.groups["g1"] = GroupPlacement("LEAST_ACCOUNTS", failover=False)
    store.tables.servers["s1"] = MemoryServer("s1", "g1")
    box = SecretBox(os.urandom(32))
    accounts = Accounts(
        store,
        box,
        OneServer(client),
        OneProduct(backup_product(next(iter(sim.state.providers)))),
        RequestIds(store, box),
        replica_id="unit",
        retry_schedule=RetrySchedule(first_delay=dt.timedelta(0)),
    )
    try:
        yield Core(store, accounts, sim)
    finally:
        await client.aclose()
        await sim.stop()


async def order(core: Core, email: str, request_id: str = "") -> str:
    result = await core.accounts.orders.create(
        Order(product_id="p1", customer=Customer(email=email), options={}),
        request_id=request_id,
        fingerprint=core.accounts.request_ids.fingerprint("create", email.encode()),
    )
    return result.account.id


async def test_a_create_leaves_one_user_with_its_limits_and_a_released_lease(core: Core) -> None:
    account_id = await order(core, "ann@example.com", "r1")
    account = core.store.tables.accounts[account_id]
    assert account.status is Status.ACTIVE
    assert account.limits_state is LimitsState.APPLIED
    # The generated password stays sealed for the order's retries, then expires.
    assert account.pending_password_enc is not None
    assert account.generated_password_expire_time is not None
    assert account_id not in core.store.tables.leases
    assert core.sim.state.users["ann@example.com"].profile["MaximumDevices"] == 3
    assert core.sim.counters.commits_for("add-user", "ann@example.com") == 1


async def test_a_lost_add_user_reply_is_settled_as_ours_without_a_second_add_user(core: Core) -> None:
    core.sim.faults.fail_after_commit("add-user", "reset", count=1)
    account_id = await order(core, "bea@example.com")
    account = core.store.tables.accounts[account_id]
    assert (account.status, account.username) == (Status.ACTIVE, "bea@example.com")
    assert core.sim.counters.commits_for("add-user", "bea@example.com") == 1


async def test_a_user_that_existed_before_the_order_is_never_written(core: Core) -> None:
    core.sim.state.seed_user("cid@example.com", "theirs-123")
    before = dict(core.sim.state.users["cid@example.com"].profile)
    account_id = await order(core, "cid@example.com")
    account = core.store.tables.accounts[account_id]
    assert account.username.startswith("cid@example.com_")
    assert core.sim.state.users["cid@example.com"].profile == before


async def test_an_interrupted_attempt_is_settled_from_comet_by_the_sweep(core: Core) -> None:
    """The process stopped after add-user went out (ATTEMPTED, window on record): the sweep finds
    the user, proves it is the account's own from its CreateTime, and finishes without add-user."""
    core.sim.faults.add("request-storage-vault", "reset", count=1)
    with pytest.raises(ServiceError):
        await order(core, "dan@example.com")
    [account] = core.store.tables.accounts.values()
    assert (account.status, account.limits_state) == (Status.PENDING, LimitsState.PENDING)
    # As if the run had stopped right after add-user: the journal says only ATTEMPTED.
    core.store.tables.accounts[account.id] = dataclasses.replace(account, add_user=StepState.ATTEMPTED)
    assert await core.accounts.sweeper.sweep() == 1
    done = core.store.tables.accounts[account.id]
    assert (done.status, done.limits_state) == (Status.ACTIVE, LimitsState.APPLIED)
    assert core.sim.counters.commits_for("add-user", "dan@example.com") == 1
    assert len(core.sim.state.users["dan@example.com"].profile["Destinations"]) == 1


async def test_a_failed_account_whose_limits_are_unconfirmed_is_contained_by_the_sweep(core: Core) -> None:
    account_id = await order(core, "eve@example.com")
    account = core.store.tables.accounts[account_id]
    profile = core.sim.state.users["eve@example.com"].profile
    profile["MaximumDevices"] = 0  # as if the limits never made it
    core.store.tables.accounts[account_id] = dataclasses.replace(
        account, status=Status.FAILED, limits_state=LimitsState.PENDING
    )
    assert await core.accounts.sweeper.sweep() == 1
    contained = core.store.tables.accounts[account_id]
    assert (contained.status, contained.limits_state) == (Status.FAILED, LimitsState.APPLIED)
    assert core.sim.state.users["eve@example.com"].profile["MaximumDevices"] == 3
