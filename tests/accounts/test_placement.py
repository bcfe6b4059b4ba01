"""Several servers per group: placement rules, full servers, failover, manual acceptance."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from pathlib import Path

import grpc
import pytest
from comet_provisioning.config import Settings
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2, catalog_pb2, servers_pb2
from google.protobuf import field_mask_pb2

from tests.accounts.conftest import World, register_sim
from tests.fixtures.db import expect_error, service_settings
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD


async def second_sim() -> CometSimulator:
    sim = CometSimulator(admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD, seed=99)
    await sim.start(host="127.0.0.1", port=0)
    return sim


async def group_of_two(
    world: World, rule: int, max_accounts: int, failover: bool = True
) -> tuple[str, CometSimulator]:
    group = await world.stubs.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(
            server_group=servers_pb2.ServerGroup(name=f"g{rule}", placement_rule=rule, failover=failover)
        )
    )
    other = await second_sim()
    await register_sim(
        world.stubs,
        world.sim,
        group_id=group.server_group.id,
        name="a",
        max_accounts=max_accounts,
        placement_order=1,
    )
    await register_sim(
        world.stubs,
        other,
        group_id=group.server_group.id,
        name="b",
        max_accounts=max_accounts,
        placement_order=2,
    )
    product = catalog_pb2.Product(
        name=f"p{rule}",
        currency_code="EUR",
        module_settings=catalog_pb2.ModuleSettings(server_group_id=group.server_group.id),
    )
    created = await world.stubs.catalog.CreateProduct(catalog_pb2.CreateProductRequest(product=product))
    return created.product.id, other


async def test_least_accounts_spreads_and_full_group_is_resource_exhausted(world: World) -> None:
    product_id, other = await group_of_two(world, servers_pb2.PLACEMENT_RULE_LEAST_ACCOUNTS, max_accounts=3)
    try:
        servers = Counter()
        for i in range(6):
            response = await world.create(
                product_id=product_id, customer=accounts_pb2.Customer(email=f"l{i}@x.io")
            )
            servers[response.account.server_id] += 1
        assert sorted(servers.values()) == [3, 3]
        assert len(world.sim.state.users) == 3
        assert len(other.state.users) == 3
        await expect_error(
            world.create(product_id=product_id, customer=accounts_pb2.Customer(email="full@x.io")),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "SERVER_GROUP_FULL",
        )
    finally:
        await other.stop()


async def test_fill_in_order_fills_the_first_server_first(world: World) -> None:
    product_id, other = await group_of_two(world, servers_pb2.PLACEMENT_RULE_FILL_IN_ORDER, max_accounts=2)
    try:
        for i in range(3):
            await world.create(product_id=product_id, customer=accounts_pb2.Customer(email=f"f{i}@x.io"))
        assert len(world.sim.state.users) == 2
        assert len(other.state.users) == 1
    finally:
        await other.stop()


async def test_failover_before_the_user_exists(world: World) -> None:
    product_id, other = await group_of_two(world, servers_pb2.PLACEMENT_RULE_FILL_IN_ORDER, max_accounts=0)
    await world.sim.stop()  # the first server in order is down: nothing listens
    try:
        response = await world.create(product_id=product_id, customer=accounts_pb2.Customer(email="fo@x.io"))
        assert response.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
        assert set(other.state.users) == {"fo@x.io"}
        events = await world.stubs.accounts.ListAccountEvents(
            accounts_pb2.ListAccountEventsRequest(account_id=response.account.id)
        )
        assert "failover" in {e.step for e in events.events}
    finally:
        await other.stop()


async def test_no_failover_means_unavailable_and_a_retry_resumes(world: World) -> None:
    product_id, other = await group_of_two(world, servers_pb2.PLACEMENT_RULE_FILL_IN_ORDER, 0, failover=False)
    try:
        other.faults.add("add-user", "http502", count=1)
        await world.sim.stop()
        # Fill-in-order picks "a" (down) and without failover reports it.
        rich = await expect_error(
            world.create(
                request_id="nf", product_id=product_id, customer=accounts_pb2.Customer(email="nf@x.io")
            ),
            grpc.StatusCode.UNAVAILABLE,
        )
        assert rich.metadata["account_id"]
        listed = await world.stubs.accounts.GetAccount(
            accounts_pb2.GetAccountRequest(id=rich.metadata["account_id"])
        )
        # A transient failure: the order is kept and retried in the background (not due yet here).
        assert listed.account.status == accounts_pb2.ACCOUNT_STATUS_PENDING
        assert listed.account.failure.reason == "COMET_UNREACHABLE"
        assert listed.account.HasField("next_attempt_time")
        assert listed.account.limits_state == accounts_pb2.LIMITS_STATE_NO_COMET_USER
        await world.sim.start(host="127.0.0.1", port=int(world.sim.base_url.rsplit(":", 1)[1]))
        # "a" is down as far as placement knows until a probe or a test finds it back.
        tested = await world.stubs.servers.TestConnection(
            servers_pb2.TestConnectionRequest(server_id=rich.metadata["server_id"])
        )
        assert tested.ok
        again = await world.create(
            request_id="nf", product_id=product_id, customer=accounts_pb2.Customer(email="nf@x.io")
        )
        assert again.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
        assert again.account.id == rich.metadata["account_id"]
        assert set(world.sim.state.users) == {"nf@x.io"}
    finally:
        await other.stop()


async def test_manual_setup_waits_for_provision(world: World) -> None:
    product_id = await world.product("manual", setup_mode=catalog_pb2.SETUP_MODE_MANUAL)
    created = await world.create(product_id=product_id, password="chosen-by-customer")
    assert created.account.status == accounts_pb2.ACCOUNT_STATUS_PENDING
    assert created.generated_password == ""
    assert world.sim.state.users == {}
    provisioned = await world.stubs.accounts.ProvisionAccount(
        accounts_pb2.ProvisionAccountRequest(id=created.account.id)
    )
    assert provisioned.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert provisioned.generated_password == ""
    assert world.sim.state.users[provisioned.account.username].password == "chosen-by-customer"
    again = await world.stubs.accounts.ProvisionAccount(
        accounts_pb2.ProvisionAccountRequest(id=created.account.id)
    )
    assert again.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert world.sim.counters.calls["add-user"] == 1


async def test_a_name_taken_on_comet_by_someone_else_gets_a_suffix(world: World) -> None:
    world.sim.state.seed_user("bob@example.com", "their-password-1")
    created = await world.create(customer=accounts_pb2.Customer(email="bob@example.com"))
    name = created.account.username
    assert name.startswith("bob@example.com_")
    assert len(name) == len("bob@example.com_") + 4
    assert world.sim.state.users["bob@example.com"].password == "their-password-1"


async def test_an_old_comet_server_20_9(world: World) -> None:
    world.sim.state.set_version("20.9.0")  # "user not found" is a 403 there; names need 6 characters
    created = await world.create(username="ab", customer=accounts_pb2.Customer(first_name="Al"))
    name = created.account.username
    assert name.startswith("ab")
    assert len(name) == 6
    assert name in world.sim.state.users
    await world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=created.account.id))
    assert world.sim.state.users[name].profile["IsSuspended"] is True
    await world.stubs.accounts.TerminateAccount(accounts_pb2.TerminateAccountRequest(id=created.account.id))
    assert name not in world.sim.state.users


# -- server health, draining, load ------------------------------------------------------------------


@pytest.fixture
def account_settings(database_url: str, tmp_path: Path) -> Settings:
    """Each store (placement counts and locks differ), and a short breaker cooldown, so that a
    server that is back is probed within the test."""
    return dataclasses.replace(service_settings(database_url, tmp_path / "data"), server_retry_after_s=0.3)


async def servers_by_name(world: World, group_id: str) -> dict[str, servers_pb2.Server]:
    listed = await world.stubs.servers.ListServers(servers_pb2.ListServersRequest(server_group_id=group_id))
    return {s.display_name: s for s in listed.servers}


async def order(world: World, product_id: str, email: str) -> accounts_pb2.Account:
    response = await world.create(product_id=product_id, customer=accounts_pb2.Customer(email=email))
    return response.account


async def step_names(world: World, account_id: str) -> set[str]:
    events = await world.stubs.accounts.ListAccountEvents(
        accounts_pb2.ListAccountEventsRequest(account_id=account_id)
    )
    return {e.step for e in events.events}


async def wait_for_health(world: World, server_id: str, health: int) -> servers_pb2.Server:
    """Reads the server until its health is `health` (each read may start the breaker's probe)."""
    for _ in range(100):
        server = (await world.stubs.servers.GetServer(servers_pb2.GetServerRequest(id=server_id))).server
        if server.health == health:
            return server
        await asyncio.sleep(0.1)
    raise AssertionError(f"server {server_id} never became {servers_pb2.ServerHealth.Name(health)}")


async def test_a_server_found_down_is_skipped_until_a_probe_finds_it_back(world: World) -> None:
    product_id, other = await group_of_two(world, servers_pb2.PLACEMENT_RULE_LEAST_ACCOUNTS, max_accounts=0)
    try:
        group_id = (
            await world.stubs.catalog.GetProduct(catalog_pb2.GetProductRequest(id=product_id))
        ).product
        servers = await servers_by_name(world, group_id.module_settings.server_group_id)
        port = int(world.sim.base_url.rsplit(":", 1)[1])
        await world.sim.stop()  # "a": fewest accounts and first in order, but nothing listens
        first = await order(world, product_id, "down0@x.io")
        assert first.server_id == servers["b"].id
        assert "failover" in await step_names(world, first.id)
        later = [await order(world, product_id, f"down{i}@x.io") for i in range(1, 6)]
        # The outage is remembered: no later order tries "a" first.
        assert {a.server_id for a in later} == {servers["b"].id}
        for account in later:
            assert "failover" not in await step_names(world, account.id)
        now = await servers_by_name(world, group_id.module_settings.server_group_id)
        # Past the breaker's cooldown (a slow run) the read itself starts a probe: PROBING.
        assert now["a"].health in (servers_pb2.SERVER_HEALTH_DOWN, servers_pb2.SERVER_HEALTH_PROBING)
        assert now["b"].health == servers_pb2.SERVER_HEALTH_UP
        assert set(other.state.users) == {f"down{i}@x.io" for i in range(6)}

        await world.sim.start(host="127.0.0.1", port=port)
        await wait_for_health(world, servers["a"].id, servers_pb2.SERVER_HEALTH_UP)
        back = await order(world, product_id, "back@x.io")
        assert back.server_id == servers["a"].id  # fewest accounts again
        assert set(world.sim.state.users) == {"back@x.io"}
    finally:
        await other.stop()


async def test_when_every_server_is_down_an_order_still_tries_them(world: World) -> None:
    product_id, other = await group_of_two(world, servers_pb2.PLACEMENT_RULE_FILL_IN_ORDER, max_accounts=0)
    try:
        await world.sim.stop()
        await other.stop()
        for i in range(2):  # the second order meets both breakers open, and tries anyway
            await expect_error(
                world.create(product_id=product_id, customer=accounts_pb2.Customer(email=f"dark{i}@x.io")),
                grpc.StatusCode.UNAVAILABLE,
                "COMET_UNREACHABLE",
            )
        await other.start(host="127.0.0.1", port=int(other.base_url.rsplit(":", 1)[1]))
        # Before any probe: both servers are believed down, and the order still finds "b".
        again = await order(world, product_id, "dawn@x.io")
        assert again.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
        assert set(other.state.users) == {"dawn@x.io"}
    finally:
        await other.stop()


async def test_a_draining_server_takes_no_new_accounts_but_keeps_its_own(world: World) -> None:
    product_id, other = await group_of_two(world, servers_pb2.PLACEMENT_RULE_FILL_IN_ORDER, max_accounts=0)
    try:
        product = (await world.stubs.catalog.GetProduct(catalog_pb2.GetProductRequest(id=product_id))).product
        group_id = product.module_settings.server_group_id
        servers = await servers_by_name(world, group_id)
        kept = await order(world, product_id, "kept@x.io")
        assert kept.server_id == servers["a"].id
        drained = await world.stubs.servers.UpdateServer(
            servers_pb2.UpdateServerRequest(
                server=servers_pb2.Server(id=servers["a"].id, draining=True),
                update_mask=field_mask_pb2.FieldMask(paths=["draining"]),
            )
        )
        assert drained.server.draining
        assert (await servers_by_name(world, group_id))["a"].draining
        moved = await order(world, product_id, "moved@x.io")
        assert moved.server_id == servers["b"].id
        # Its own accounts are still managed.
        await world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=kept.id))
        assert world.sim.state.users["kept@x.io"].profile["IsSuspended"] is True
        await world.stubs.servers.UpdateServer(
            servers_pb2.UpdateServerRequest(
                server=servers_pb2.Server(id=servers["b"].id, draining=True),
                update_mask=field_mask_pb2.FieldMask(paths=["draining"]),
            )
        )
        full = await expect_error(
            world.create(product_id=product_id, customer=accounts_pb2.Customer(email="none@x.io")),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "SERVER_GROUP_FULL",
        )
        assert "2 draining" in full.message
        assert set(world.sim.state.users) == {"kept@x.io"}
        assert set(other.state.users) == {"moved@x.io"}
    finally:
        await other.stop()


async def test_least_accounts_goes_by_account_count_whatever_the_limits(world: World) -> None:
    group = await world.stubs.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="mixed"))
    )
    group_id = group.server_group.id
    other = await second_sim()
    try:
        limited = await register_sim(
            world.stubs, world.sim, group_id=group_id, name="limited", max_accounts=1000, placement_order=2
        )
        unlimited = await register_sim(
            world.stubs, other, group_id=group_id, name="unlimited", placement_order=1
        )
        product = await world.stubs.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                product=catalog_pb2.Product(
                    name="mixed",
                    currency_code="EUR",
                    module_settings=catalog_pb2.ModuleSettings(server_group_id=group_id),
                )
            )
        )
        product_id = product.product.id

        async def drain(server_id: str, on: bool) -> None:
            await world.stubs.servers.UpdateServer(
                servers_pb2.UpdateServerRequest(
                    server=servers_pb2.Server(id=server_id, draining=on),
                    update_mask=field_mask_pb2.FieldMask(paths=["draining"]),
                )
            )

        # 3 accounts on the limited server, 4 on the unlimited one.
        await drain(unlimited, True)
        for i in range(3):
            await order(world, product_id, f"l{i}@x.io")
        await drain(unlimited, False)
        await drain(limited, True)
        for i in range(4):
            await order(world, product_id, f"u{i}@x.io")
        await drain(limited, False)
        placed = [await order(world, product_id, f"n{i}@x.io") for i in range(3)]
        # The limited server has fewer accounts: it gets the next one; then a tie goes by order.
        assert [a.server_id for a in placed] == [limited, unlimited, limited]
        counts = await servers_by_name(world, group_id)
        assert (counts["limited"].account_count, counts["unlimited"].account_count) == (5, 5)
    finally:
        await other.stop()


async def test_failed_orders_that_never_created_a_user_take_no_place(world: World) -> None:
    product_id, other = await group_of_two(
        world, servers_pb2.PLACEMENT_RULE_LEAST_ACCOUNTS, 0, failover=False
    )
    try:
        product = (await world.stubs.catalog.GetProduct(catalog_pb2.GetProductRequest(id=product_id))).product
        group_id = product.module_settings.server_group_id
        servers = await servers_by_name(world, group_id)
        port = int(world.sim.base_url.rsplit(":", 1)[1])
        await world.sim.stop()
        failed = await expect_error(
            world.create(product_id=product_id, customer=accounts_pb2.Customer(email="lost@x.io")),
            grpc.StatusCode.UNAVAILABLE,
            "COMET_UNREACHABLE",
        )
        assert failed.metadata["server_id"] == servers["a"].id
        assert f"Comet server 'a' ({servers['a'].id})" in failed.message  # as operators know it
        got = await world.stubs.accounts.GetAccount(
            accounts_pb2.GetAccountRequest(id=failed.metadata["account_id"])
        )
        # Kept for a retry in the background, but no Comet user was ever created there.
        assert got.account.status == accounts_pb2.ACCOUNT_STATUS_PENDING
        assert got.account.limits_state == accounts_pb2.LIMITS_STATE_NO_COMET_USER
        now = await servers_by_name(world, group_id)
        assert now["a"].account_count == 0
        await world.sim.start(host="127.0.0.1", port=port)
        await wait_for_health(world, servers["a"].id, servers_pb2.SERVER_HEALTH_UP)
        one = await order(world, product_id, "one@x.io")
        two = await order(world, product_id, "two@x.io")
        assert {one.server_id, two.server_id} == {servers["a"].id, servers["b"].id}
    finally:
        await other.stop()


async def test_a_full_group_names_no_account_that_was_never_recorded(world: World) -> None:
    product_id, other = await group_of_two(world, servers_pb2.PLACEMENT_RULE_LEAST_ACCOUNTS, max_accounts=1)
    try:
        for i in range(2):
            await order(world, product_id, f"f{i}@x.io")
        full = await expect_error(
            world.create(
                product_id=product_id, customer=accounts_pb2.Customer(email="nope@x.io", reference="r-9")
            ),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "SERVER_GROUP_FULL",
        )
        assert "account_id" not in full.metadata
        assert "2 full" in full.message
        assert full.metadata["server_group_id"]
        listed = await world.stubs.accounts.ListAccounts(
            accounts_pb2.ListAccountsRequest(customer_reference="r-9")
        )
        assert list(listed.accounts) == []
    finally:
        await other.stop()
