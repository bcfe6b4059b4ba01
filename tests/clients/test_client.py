"""The typed client against the real service and simulator: convenience calls, request ids,
typed errors decoded from grpc-status-details-bin, paging, and the bearer token."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import grpc
import pytest
from comet_provisioning.api.auth import hash_token
from comet_provisioning.config import TokenEntry
from comet_provisioning_client import (
    AccountResult,
    InvalidArgumentError,
    NotFoundError,
    ProvisioningClient,
    ProvisioningError,
    UnauthenticatedError,
    ensure_request_id,
)
from comet_provisioning_client.v1 import accounts_pb2, catalog_pb2, servers_pb2

from tests.accounts.conftest import World, started
from tests.fixtures.db import service_settings


async def test_create_account_makes_the_comet_user(world: World, client: ProvisioningClient) -> None:
    created = await client.create_account(
        world.product_id,
        {"email": "alice@example.com", "reference": "c-1"},
        options={"number_of_devices": 3},
        username="alicebackup",
    )
    account = created.account
    assert account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert created.generated_password
    profile = world.sim.state.users["alicebackup"].profile
    assert profile["MaximumDevices"] == 3
    fetched = await client.get_account(account.id)
    assert fetched.username == "alicebackup"


async def test_the_same_request_id_returns_the_first_outcome(
    world: World, client: ProvisioningClient
) -> None:
    first = await client.create_account(world.product_id, {"email": "bob@example.com"}, request_id="order-7")
    again = await client.create_account(world.product_id, {"email": "bob@example.com"}, request_id="order-7")
    assert again.account.id == first.account.id
    assert world.sim.counters.calls["add-user"] == 1


async def test_request_ids_are_generated_per_call(world: World, client: ProvisioningClient) -> None:
    one = await client.create_account(world.product_id, {"email": "carol@example.com"})
    two = await client.create_account(world.product_id, {"email": "carol@example.com"})
    assert one.account.id != two.account.id
    assert len(world.sim.state.users) == 2


def test_ensure_request_id_fills_only_empty_ids() -> None:
    request = accounts_pb2.SuspendAccountRequest(id="a")
    generated = ensure_request_id(request)
    assert request.request_id == generated
    assert len(generated) == 36
    kept = accounts_pb2.SuspendAccountRequest(id="a", request_id="mine")
    assert ensure_request_id(kept) == "mine"
    assert ensure_request_id(accounts_pb2.GetAccountRequest(id="a")) == ""


async def test_lifecycle_through_the_convenience_methods(world: World, client: ProvisioningClient) -> None:
    created = await client.create_account(world.product_id, {"email": "dave@example.com"})
    account = created.account
    suspended = await client.suspend_account(account.id, reason="unpaid")
    assert suspended.account.status == accounts_pb2.ACCOUNT_STATUS_SUSPENDED
    assert world.sim.state.users[account.username].profile["IsSuspended"] is True
    unsuspended = await client.unsuspend_account(account.id)
    assert unsuspended.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert world.sim.state.users[account.username].profile["IsSuspended"] is False
    changed = await client.change_package(account.id, options={"number_of_devices": 7})
    assert changed.account.quotas.max_devices == 7
    assert world.sim.state.users[account.username].profile["MaximumDevices"] == 7
    await client.change_password(account.id, "a-new-Password-123")
    assert world.sim.state.users[account.username].password == "a-new-Password-123"
    terminated = await client.terminate_account(account.id)
    assert terminated.account.status == accounts_pb2.ACCOUNT_STATUS_TERMINATED
    assert account.username not in world.sim.state.users
    # Every change returns the same shape: the account and the request id it was sent with.
    results = [created, suspended, unsuspended, changed, terminated]
    assert all(isinstance(r, AccountResult) for r in results)
    assert len({r.request_id for r in results}) == len(results)
    assert all(r.request_id for r in results)


async def test_a_generated_request_id_repeats_the_order_without_a_second_user(
    world: World, client: ProvisioningClient
) -> None:
    first = await client.create_account(world.product_id, {"email": "erin@example.com"})
    again = await client.create_account(
        world.product_id, {"email": "erin@example.com"}, request_id=first.request_id
    )
    assert again.account.id == first.account.id
    assert again.request_id == first.request_id
    assert world.sim.counters.calls["add-user"] == 1


async def test_catalogue_and_server_helpers(world: World, client: ProvisioningClient) -> None:
    group = await client.create_server_group(servers_pb2.ServerGroup(name="eu"))
    assert group.request_id
    assert (await client.get_server_group(group.server_group.id)).name == "eu"
    renamed = await client.update_server_group(
        servers_pb2.ServerGroup(id=group.server_group.id, name="eu-west"), ["name"]
    )
    assert renamed.server_group.name == "eu-west"
    assert {g.name for g in [g async for g in client.list_server_groups(page_size=1)]} == {"main", "eu-west"}

    server = await client.get_server(world.server_id)
    assert [s.id async for s in client.list_servers(server_group_id=world.group_id)] == [server.id]
    tested = await client.test_connection(world.server_id)
    assert tested.ok
    providers = await client.list_storage_providers(world.server_id)
    assert {p.provider_id for p in providers} == set(world.sim.state.providers)
    assert isinstance(await client.list_policy_groups(world.server_id), list)
    display = await client.update_server(
        servers_pb2.Server(id=server.id, display_name="primary"), ["display_name"]
    )
    assert display.server.display_name == "primary"

    product = catalog_pb2.Product(
        name="Backup 5",
        currency_code="EUR",
        base_price_minor=300,
        module_settings=catalog_pb2.ModuleSettings(server_group_id=world.group_id),
        options=[
            catalog_pb2.ConfigurableOption(
                key="number_of_devices", min_quantity=1, max_quantity=5, unit_price_minor=100
            )
        ],
    )
    created = await client.create_product(product, request_id="product-5")
    assert created.request_id == "product-5"
    assert (await client.get_product(created.product.id)).name == "Backup 5"
    quote = await client.quote_order(created.product.id, {"number_of_devices": 3})
    assert quote.total_minor == 300 + 3 * 100
    updated = await client.update_product(
        catalog_pb2.Product(id=created.product.id, name="Backup Five"), ["name"]
    )
    assert updated.product.name == "Backup Five"
    assert "Backup Five" in {p.name async for p in client.list_products(page_size=1)}
    deleted = await client.delete_product(created.product.id)
    assert deleted.request_id
    with pytest.raises(NotFoundError):
        await client.get_product(created.product.id)
    await client.delete_server_group(group.server_group.id)
    with pytest.raises(NotFoundError):
        await client.get_server_group(group.server_group.id)


async def test_list_accounts_follows_pages(world: World, client: ProvisioningClient) -> None:
    for i in range(5):
        await client.create_account(world.product_id, {"email": f"p{i}@example.com", "reference": "paged"})
    listed = [a async for a in client.list_accounts(customer_reference="paged", page_size=2)]
    assert len(listed) == 5
    assert len({a.id for a in listed}) == 5


async def test_not_found_carries_reason_domain_and_metadata(client: ProvisioningClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        await client.get_account("no-such-account")
    err = caught.value
    assert err.code is grpc.StatusCode.NOT_FOUND
    assert err.reason
    assert err.reason.isupper()
    assert err.domain == "comet.provisioning.v1"
    assert not err.retryable


async def test_invalid_input_carries_field_violations(client: ProvisioningClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await client.create_account("", {"email": "not an email"})
    err = caught.value
    assert isinstance(err, ProvisioningError)
    fields = {v.field for v in err.field_violations}
    assert "product_id" in fields, err.field_violations


async def test_generic_call_wraps_raw_stub_methods(world: World, client: ProvisioningClient) -> None:
    product = await client.call(client.catalog.GetProduct, catalog_pb2.GetProductRequest(id=world.product_id))
    assert product.product.name == "Backup 100"
    with pytest.raises(NotFoundError):
        await client.call(client.catalog.GetProduct, catalog_pb2.GetProductRequest(id="nope"))


async def test_bearer_token_is_sent(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    settings = dataclasses.replace(
        service_settings(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}", tmp_path / "data"),
        tokens=[TokenEntry(name="billing", hash=hash_token(token), role="admin")],
    )
    async with started(settings) as stubs:
        target = f"127.0.0.1:{stubs.port}"
        async with ProvisioningClient(target, token=token) as authed:
            assert [p async for p in _products(authed)] == []
        async with ProvisioningClient(target) as anonymous:
            with pytest.raises(UnauthenticatedError):
                await anonymous.get_account("x")
        async with ProvisioningClient(target, token="wrong-" + token) as wrong:
            with pytest.raises(UnauthenticatedError):
                await wrong.get_account("x")


async def _products(client: ProvisioningClient):  # type: ignore[no-untyped-def]
    response = await client.call(client.catalog.ListProducts, catalog_pb2.ListProductsRequest())
    for product in response.products:
        yield product
