"""A stored secret that none of the configured keys opens: FAILED_PRECONDITION with a reason,
naming the server or the account, never INTERNAL; and the key check refuses a store no key reads."""

from __future__ import annotations

import base64
from pathlib import Path

import grpc
import pytest
from comet_provisioning.config import ConfigError, Settings
from comet_provisioning.crypto import SecretBox
from comet_provisioning.sim import CometSimulator
from comet_provisioning.store import open_database
from comet_provisioning.store.schema import accounts, servers
from comet_provisioning_client.v1 import accounts_pb2, catalog_pb2, servers_pb2
from sqlalchemy import update

from tests.accounts.conftest import World, register_sim, started
from tests.fixtures.db import expect_error, new_secret_key, service_settings


async def _seal_elsewhere(settings: Settings, table: str, row_id: str, plaintext: str) -> None:
    """Overwrites a sealed value with one sealed under a key the service does not have (what an
    order taken while the service ran with a wrong key left behind)."""
    stray = SecretBox(base64.urlsafe_b64decode(new_secret_key()))
    db = open_database(settings.database_url)
    try:
        async with db.transaction() as conn:
            if table == "servers":
                blob = stray.encrypt(plaintext, bound_to=row_id)
                await conn.execute(
                    update(servers).where(servers.c.id == row_id).values(admin_password_enc=blob)
                )
            else:
                blob = stray.encrypt(plaintext, bound_to=f"account:{row_id}")
                await conn.execute(
                    update(accounts).where(accounts.c.id == row_id).values(pending_password_enc=blob)
                )
    finally:
        await db.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return service_settings(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}", tmp_path / "data")


async def _catalogue(settings: Settings, sim: CometSimulator) -> tuple[str, str, str]:
    """A group, the simulator as its server and a product set up by hand: (server, on-order, manual)."""
    async with started(settings) as stubs:
        group = await stubs.servers.CreateServerGroup(
            servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="main"))
        )
        server_id = await register_sim(stubs, sim, group_id=group.server_group.id, name="Comet EU-1")
        world = World(stubs, sim, group.server_group.id, server_id, "")
        on_order = await world.product("On order")
        manual = await world.product("Manual", setup_mode=catalog_pb2.SETUP_MODE_MANUAL)
    return server_id, on_order, manual


async def test_an_admin_password_no_key_opens_is_failed_precondition_naming_the_server(
    settings: Settings, comet_sim: CometSimulator
) -> None:
    server_id, product_id, _ = await _catalogue(settings, comet_sim)
    await _seal_elsewhere(settings, "servers", server_id, "admin-password")
    async with started(settings) as stubs:
        error = await expect_error(
            stubs.accounts.CreateAccount(
                accounts_pb2.CreateAccountRequest(
                    product_id=product_id, customer=accounts_pb2.Customer(email="bob@example.com")
                )
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "SECRET_UNREADABLE",
        )
    assert error.metadata["server_id"] == server_id
    assert error.metadata["server_name"] == "Comet EU-1"
    assert "'Comet EU-1'" in error.message
    assert "previous_secret_keys" in error.message
    assert comet_sim.state.users == {}  # nothing reached Comet


async def test_a_pending_password_no_key_opens_is_failed_precondition_naming_the_account(
    settings: Settings, comet_sim: CometSimulator
) -> None:
    _, _, manual = await _catalogue(settings, comet_sim)
    async with started(settings) as stubs:
        order = await stubs.accounts.CreateAccount(
            accounts_pb2.CreateAccountRequest(
                product_id=manual,
                customer=accounts_pb2.Customer(email="carol@example.com"),
                password="carol-chose-this-password",
            )
        )
    account_id = order.account.id
    assert order.account.status == accounts_pb2.ACCOUNT_STATUS_PENDING
    await _seal_elsewhere(settings, "accounts", account_id, "carol-chose-this-password")
    async with started(settings) as stubs:
        error = await expect_error(
            stubs.accounts.ProvisionAccount(accounts_pb2.ProvisionAccountRequest(id=account_id), timeout=30),
            grpc.StatusCode.FAILED_PRECONDITION,
            "SECRET_UNREADABLE",
        )
    assert error.metadata["account_id"] == account_id
    assert comet_sim.state.users == {}


async def test_the_service_refuses_a_key_that_reads_nothing_in_the_store(
    settings: Settings, comet_sim: CometSimulator
) -> None:
    await _catalogue(settings, comet_sim)
    settings.secret_key = new_secret_key()
    with pytest.raises(ConfigError, match="does not match the database") as refused:
        async with started(settings):
            pass
    assert refused.value.exit_code == 2
