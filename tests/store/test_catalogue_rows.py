"""The repositories of servers, server groups and products: what a lost race looks like to the
core (the domain's NameTaken and UnknownServerGroup, never a storage error), on both backends."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from comet_provisioning.core.models import Product, Server, ServerGroup
from comet_provisioning.core.server_repository import NameTaken, UnknownServerGroup
from comet_provisioning.store import open_database, upgrade, utcnow
from comet_provisioning.store.unit_of_work import SqlStore


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    db = open_database(database_url)
    await upgrade(db)
    try:
        yield SqlStore(db)
    finally:
        await db.close()


def group(name: str) -> ServerGroup:
    now = utcnow()
    return ServerGroup(f"{name:g>32}", name, "LEAST_ACCOUNTS", False, now, now)


def server(name: str, group_id: str | None) -> Server:
    now = utcnow()
    return Server(
        id=f"{name:s>32}",
        display_name=name,
        protocol="https",
        host="comet.example.com",
        port=0,
        admin_username="admin",
        admin_password_enc=b"sealed",
        tls_insecure_skip_verify=False,
        tls_ca_bundle_pem="",
        server_group_id=group_id,
        max_accounts=0,
        max_connections=0,
        placement_order=0,
        create_time=now,
        update_time=now,
    )


def product(name: str, group_id: str) -> Product:
    now = utcnow()
    return Product(
        id=f"{name:p>32}",
        name=name,
        description="",
        currency_code="USD",
        base_price_minor=0,
        server_group_id=group_id,
        policy_group_mode="NONE",
        policy_id="",
        storage_provider_id="",
        require_password_change=False,
        setup_mode="ON_ORDER",
        options=[],
        create_time=now,
        update_time=now,
    )


async def test_a_taken_name_is_the_domains_error(store: SqlStore) -> None:
    async with store.write() as uow:
        await uow.server_groups.add(group("eu"))
        await uow.server_groups.add(group("us"))
        await uow.servers.add(server("one", "g" * 30 + "eu"))
        await uow.products.add(product("backup", "g" * 30 + "eu"))
    attempts = [
        lambda uow: uow.server_groups.add(dataclasses.replace(group("eu"), id="x" * 32)),
        lambda uow: uow.server_groups.replace(dataclasses.replace(group("us"), name="eu")),
        lambda uow: uow.servers.add(dataclasses.replace(server("one", None), id="x" * 32)),
        lambda uow: uow.products.add(dataclasses.replace(product("backup", "g" * 30 + "us"), id="x" * 32)),
    ]
    for attempt in attempts:
        with pytest.raises(NameTaken):
            async with store.write() as uow:
                await attempt(uow)
    async with store.read() as uow:
        assert [g.name for g in await uow.server_groups.page(offset=0, limit=10)] == ["eu", "us"]
        assert await uow.server_groups.name_taken("eu")
        assert not await uow.server_groups.name_taken("eu", other_than="g" * 30 + "eu")


async def test_a_group_deleted_meanwhile_is_the_domains_error(store: SqlStore) -> None:
    gone = "f" * 32
    with pytest.raises(UnknownServerGroup) as for_server:
        async with store.write() as uow:
            await uow.servers.add(server("one", gone))
    with pytest.raises(UnknownServerGroup) as for_product:
        async with store.write() as uow:
            await uow.products.add(product("backup", gone))
    assert for_server.value.group_id == for_product.value.group_id == gone
    async with store.read() as uow:
        assert await uow.servers.page(group_id=None, offset=0, limit=10) == []
        assert await uow.products.page(offset=0, limit=10) == []


async def test_removing_a_group_leaves_its_servers_ungrouped(store: SqlStore) -> None:
    eu = group("eu")
    async with store.write() as uow:
        await uow.server_groups.add(eu)
        await uow.servers.add(server("one", eu.id))
    async with store.read() as uow:
        stored = await uow.server_groups.get(eu.id)
        assert stored is not None
        assert stored.server_ids == ["s" * 29 + "one"]
    async with store.write() as uow:
        assert await uow.server_groups.get(eu.id, lock=True) is not None
        await uow.server_groups.remove(eu.id)
    async with store.read() as uow:
        assert await uow.server_groups.get(eu.id) is None
        left = await uow.servers.get("s" * 29 + "one")
        assert left is not None
        assert left.server_group_id is None
