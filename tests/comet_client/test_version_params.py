"""Parameters only some releases accept are sent only to those releases, decided by the learned version."""

from __future__ import annotations

import json

import pytest
from comet_provisioning.comet import CometClient, CometUnreachable, ConnectFailed

from tests.fakes.memory_comet import MemoryComet

from .conftest import CometFactory
from .support import memory_client


async def add_user_form(comet: MemoryComet, **options: object) -> dict[str, str]:
    async with memory_client(comet) as client:
        await client.add_user("alice01", "user-pass-123", **options)  # type: ignore[arg-type]
    assert "alice01" in comet.state.users
    [form] = comet.sent("add-user")
    return form


@pytest.mark.parametrize(("version", "sent"), [("20.3.3", False), ("20.3.4", True), ("25.9.0", True)])
async def test_require_password_change_from_20_3_4(
    make_comet: CometFactory, version: str, sent: bool
) -> None:
    comet = make_comet(version=version)
    form = await add_user_form(comet, require_password_change=True)
    assert ("RequirePasswordChange" in form) is sent
    if sent:
        assert form["RequirePasswordChange"] == "1"
    assert form["StoreRecoveryCode"] == "1"
    assert comet.state.users["alice01"].profile.get("RequirePasswordChange", False) is sent


@pytest.mark.parametrize(("version", "sent"), [("22.3.6", False), ("22.3.7", True)])
async def test_target_organization_from_22_3_7(make_comet: CometFactory, version: str, sent: bool) -> None:
    form = await add_user_form(make_comet(version=version), organization_id="org-9")
    assert form.get("TargetOrganization") == ("org-9" if sent else None)


async def test_add_user_without_gated_options_needs_no_version(comet: MemoryComet) -> None:
    async with memory_client(comet) as client:
        await client.add_user("alice01", "user-pass-123")
    [form] = comet.sent("add-user")
    assert "RequirePasswordChange" not in form
    assert comet.calls("meta/version") == 0


async def test_a_version_that_cannot_be_learned_sends_no_write(comet: MemoryComet) -> None:
    comet.fail("meta/version", ConnectFailed("refused"), times=None)
    async with memory_client(comet, max_retries=1) as client:
        with pytest.raises(CometUnreachable) as caught:
            await client.add_user("alice", "user-pass-123", require_password_change=True)
    assert caught.value.endpoint == "meta/version"
    assert not caught.value.reached_server
    assert comet.calls("add-user") == 0


@pytest.mark.parametrize(("version", "sent"), [("20.3.4", False), ("20.3.5", True)])
async def test_uninstall_config_from_20_3_5(make_comet: CometFactory, version: str, sent: bool) -> None:
    comet = make_comet(version=version)
    comet.state.seed_user("alice01")
    async with memory_client(comet) as client:
        await client.delete_user("alice01", uninstall=True, remove_config=True)
    [form] = comet.sent("delete-user")
    if sent:
        assert json.loads(form["UninstallConfig"]) == {"UninstallFlag": True, "RemoveConfigFile": True}
    else:
        assert "UninstallConfig" not in form
    assert form["TargetUser"] == "alice01"
    assert "alice01" not in comet.state.users


def seed_connections(comet: MemoryComet) -> dict[str, str]:
    """Two live devices of alice01's and one of bob0001's: connection id -> owner."""
    owners = {}
    for name, device in (("alice01", "d1"), ("bob0001", "d2"), ("alice01", "d3")):
        if name not in comet.state.users:
            comet.state.seed_user(name)
        owners[comet.state.seed_connection(name, device)] = name
    return owners


@pytest.mark.parametrize(("version", "sent"), [("22.6.6", False), ("22.6.7", True)])
async def test_username_filter_from_22_6_7_and_filtered_here_before(
    make_comet: CometFactory, version: str, sent: bool
) -> None:
    comet = make_comet(version=version)
    owners = seed_connections(comet)
    async with memory_client(comet) as client:
        mine = await client.list_active_connections("alice01")
    assert set(mine) == {c for c, owner in owners.items() if owner == "alice01"}
    [form] = comet.sent("dispatcher/list-active")
    assert form.get("UserNameFilter") == ("alice01" if sent else None)


async def test_a_server_that_ignores_the_filter_is_filtered_here(comet: MemoryComet) -> None:
    everyone = {"c1": {"Username": "alice"}, "c2": {"Username": "bob"}, "c3": {"Username": "alice"}}
    comet.reply("dispatcher/list-active", everyone)
    async with memory_client(comet) as client:
        assert set(await client.list_active_connections("alice")) == {"c1", "c3"}
    assert comet.sent("dispatcher/list-active")[0]["UserNameFilter"] == "alice"


async def test_listing_everyone_needs_no_version(comet: MemoryComet) -> None:
    owners = seed_connections(comet)
    async with memory_client(comet) as client:
        assert set(await client.list_active_connections()) == set(owners)
    assert comet.calls("meta/version") == 0


async def test_the_version_is_learned_once_for_many_calls(make_comet: CometFactory) -> None:
    comet = make_comet(version="20.9.0")
    client: CometClient
    async with memory_client(comet) as client:
        for name in ("user0001", "user0002", "user0003"):
            await client.add_user(name, "user-pass-123", require_password_change=True, organization_id="o")
            await client.delete_user(name, uninstall=True)
    assert comet.calls("meta/version") == 1
    assert all("TargetOrganization" not in form for form in comet.sent("add-user"))
    assert comet.counters.committed["add-user"] == comet.counters.committed["delete-user"] == 3
