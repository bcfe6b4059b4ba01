"""Fixtures for the client area, usage sync, sign-on, downloads and import: the account World
(service in-process, the simulator registered as a server of a group, a product) from
tests/accounts, plus helpers to get an ACTIVE account and read what the simulator holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from comet_provisioning.config import Settings
from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import World, world
from tests.fixtures.db import service_settings

__all__ = ["GIB", "Active", "World", "account_settings", "active", "world"]

GIB = 1024**3


@pytest.fixture
def account_settings(database_url: str, tmp_path: Path) -> Settings:
    """The World's service on each store: SQLite and PostgreSQL (usage rows, imports, pruning)."""
    return service_settings(database_url, tmp_path / "data")


@dataclass
class Active:
    id: str
    username: str
    account: accounts_pb2.Account


async def active(world: World, **fields: Any) -> Active:
    """A provisioned (ACTIVE) account; its Comet user exists on the simulator."""
    created = await world.create(**fields)
    account = created.account
    assert account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE, account
    if account.server_id == world.server_id:
        assert account.username in world.sim.state.users
    return Active(account.id, account.username, account)


async def get(
    world: World, account_id: str, *, full: bool = False, timeout: float = 30
) -> accounts_pb2.Account:
    view = accounts_pb2.ACCOUNT_VIEW_FULL if full else accounts_pb2.ACCOUNT_VIEW_BASIC
    response = await world.stubs.accounts.GetAccount(
        accounts_pb2.GetAccountRequest(id=account_id, view=view), timeout=timeout
    )
    return response.account


async def sync(world: World, server_id: str = "") -> accounts_pb2.SyncUsageResponse:
    response: accounts_pb2.SyncUsageResponse = await world.stubs.accounts.SyncUsage(
        accounts_pb2.SyncUsageRequest(server_id=server_id), timeout=30
    )
    return response


def profile(world: World, username: str) -> dict[str, Any]:
    return world.sim.state.users[username].profile
