"""Fixtures for the account lifecycle: the service in-process, a simulator registered in it as a
server of a group, and products to order."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
from comet_provisioning.app import running_service
from comet_provisioning.config import Settings
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import (
    accounts_pb2,
    accounts_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
    servers_pb2,
    servers_pb2_grpc,
)

from tests.fixtures.db import service_settings
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD


@dataclass
class Stubs:
    settings: Settings
    servers: servers_pb2_grpc.ServerServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    accounts: accounts_pb2_grpc.AccountServiceStub
    port: int = 0


@contextlib.asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[Stubs]:
    async with running_service(settings) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield Stubs(
                settings,
                servers_pb2_grpc.ServerServiceStub(channel),
                catalog_pb2_grpc.CatalogServiceStub(channel),
                accounts_pb2_grpc.AccountServiceStub(channel),
                server.port,
            )


async def register_sim(
    stubs: Stubs, sim: CometSimulator, *, group_id: str, name: str = "sim", **server: Any
) -> str:
    url = urlsplit(sim.base_url)
    created = await stubs.servers.CreateServer(
        servers_pb2.CreateServerRequest(
            server=servers_pb2.Server(
                display_name=name,
                connection=servers_pb2.ServerConnection(
                    protocol=servers_pb2.PROTOCOL_HTTP,
                    host=url.hostname or "",
                    port=url.port or 0,
                    admin_username=SIM_ADMIN,
                    admin_password=SIM_PASSWORD,
                ),
                server_group_id=group_id,
                **server,
            )
        )
    )
    return created.server.id


def option(
    key: str, lo: int, hi: int, default: int | None = None, price: int = 0
) -> catalog_pb2.ConfigurableOption:
    return catalog_pb2.ConfigurableOption(
        key=key,
        min_quantity=lo,
        max_quantity=hi,
        default_quantity=lo if default is None else default,
        unit_price_minor=price,
    )


@dataclass
class World:
    """A group with the simulator as its one server, and a product placing into it."""

    stubs: Stubs
    sim: CometSimulator
    group_id: str
    server_id: str
    product_id: str
    products: dict[str, str] = field(default_factory=dict)

    async def product(self, name: str, **settings: Any) -> str:
        options = settings.pop("options", None)
        module = catalog_pb2.ModuleSettings(server_group_id=self.group_id, **settings)
        created = await self.stubs.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                product=catalog_pb2.Product(
                    name=name,
                    currency_code="USD",
                    base_price_minor=500,
                    module_settings=module,
                    options=options
                    if options is not None
                    else [
                        option("number_of_devices", 1, 10, 2),
                        option("protected_item_quota_gb", 0, 1000, 100),
                        option("storage_vault_quota_gb", 0, 5000, 250),
                    ],
                )
            )
        )
        self.products[name] = created.product.id
        return created.product.id

    async def create(self, **fields: Any) -> accounts_pb2.CreateAccountResponse:
        fields.setdefault("product_id", self.product_id)
        fields.setdefault("customer", accounts_pb2.Customer(email="alice@example.com", reference="svc-1"))
        response: accounts_pb2.CreateAccountResponse = await self.stubs.accounts.CreateAccount(
            accounts_pb2.CreateAccountRequest(**fields), timeout=30
        )
        return response


@pytest.fixture
def account_settings(database_url: str, tmp_path: Path) -> Settings:
    """The accounts suite runs on SQLite and on PostgreSQL (tests/fixtures/db.py): inline SQLite never
    yields between a read and a write, so only PostgreSQL interleaves concurrent work for real."""
    return service_settings(database_url, tmp_path / "data")


@contextlib.asynccontextmanager
async def make_world(sim: CometSimulator, settings: Settings) -> AsyncIterator[World]:
    """The service on `settings`, a group with the simulator as its one server, and a product with
    an auto-created policy group and an initial vault."""
    async with started(settings) as stubs:
        group = await stubs.servers.CreateServerGroup(
            servers_pb2.CreateServerGroupRequest(
                server_group=servers_pb2.ServerGroup(name="main", failover=True)
            )
        )
        server_id = await register_sim(stubs, sim, group_id=group.server_group.id)
        world = World(stubs, sim, group.server_group.id, server_id, "")
        world.product_id = await world.product(
            "Backup 100",
            policy_group_mode=catalog_pb2.POLICY_GROUP_MODE_CREATE_NEW,
            storage_provider_id=next(iter(sim.state.providers)),
        )
        yield world


@pytest.fixture
async def world(profiled_sim: CometSimulator, account_settings: Settings) -> AsyncIterator[World]:
    """Runs once per simulator profile (tests/fixtures/sim.py): the reference server, an old one
    and one answering in Spanish."""
    async with make_world(profiled_sim, account_settings) as world:
        yield world
