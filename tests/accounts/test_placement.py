"""Several servers per group: placement rules, full servers, failover, manual acceptance."""

from __future__ import annotations

from collections import Counter

import grpc
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2, catalog_pb2, servers_pb2

from tests.accounts.conftest import World, register_sim
from tests.fixtures.db import expect_error
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
        assert listed.account.status == accounts_pb2.ACCOUNT_STATUS_FAILED
        assert listed.account.failure.reason == "COMET_UNREACHABLE"
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
