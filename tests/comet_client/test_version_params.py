"""Parameters only some releases accept are sent only to those releases, decided by the learned version."""

from __future__ import annotations

import json

import pytest
from comet_provisioning.comet import CometClient, CometUnreachable, ConnectFailed

from .fake_comet import FakeComet, carm, fake_client

CONNECTIONS = {
    "c1": {"Username": "alice", "DeviceID": "d1"},
    "c2": {"Username": "bob", "DeviceID": "d2"},
    "c3": {"Username": "alice", "DeviceID": "d3"},
}


async def add_user_form(version: str, **options: object) -> dict[str, str]:
    fake = FakeComet(version=version)
    fake.reply("add-user", carm())
    async with fake_client(fake) as client:
        await client.add_user("alice", "user-pass-123", **options)  # type: ignore[arg-type]
    [form] = fake.sent("add-user")
    return form


@pytest.mark.parametrize(("version", "sent"), [("20.3.3", False), ("20.3.4", True), ("25.9.0", True)])
async def test_require_password_change_from_20_3_4(version: str, sent: bool) -> None:
    form = await add_user_form(version, require_password_change=True)
    assert ("RequirePasswordChange" in form) is sent
    if sent:
        assert form["RequirePasswordChange"] == "1"
    assert form["StoreRecoveryCode"] == "1"


@pytest.mark.parametrize(("version", "sent"), [("22.3.6", False), ("22.3.7", True)])
async def test_target_organization_from_22_3_7(version: str, sent: bool) -> None:
    form = await add_user_form(version, organization_id="org-9")
    assert form.get("TargetOrganization") == ("org-9" if sent else None)


async def test_add_user_without_gated_options_needs_no_version() -> None:
    fake = FakeComet(version=None)  # meta/version would fail the test
    fake.reply("add-user", carm())
    async with fake_client(fake) as client:
        await client.add_user("alice", "user-pass-123")
    [form] = fake.sent("add-user")
    assert "RequirePasswordChange" not in form
    assert fake.calls("meta/version") == 0


async def test_a_version_that_cannot_be_learned_sends_no_write() -> None:
    fake = FakeComet(version=None)
    fake.fail("meta/version", ConnectFailed("refused"), times=None)
    async with fake_client(fake, max_retries=1) as client:
        with pytest.raises(CometUnreachable) as caught:
            await client.add_user("alice", "user-pass-123", require_password_change=True)
    assert caught.value.endpoint == "meta/version"
    assert not caught.value.reached_server
    assert fake.calls("add-user") == 0


@pytest.mark.parametrize(("version", "sent"), [("20.3.4", False), ("20.3.5", True)])
async def test_uninstall_config_from_20_3_5(version: str, sent: bool) -> None:
    fake = FakeComet(version=version)
    fake.reply("delete-user", carm())
    async with fake_client(fake) as client:
        await client.delete_user("alice", uninstall=True, remove_config=True)
    [form] = fake.sent("delete-user")
    if sent:
        assert json.loads(form["UninstallConfig"]) == {"UninstallFlag": True, "RemoveConfigFile": True}
    else:
        assert "UninstallConfig" not in form
    assert form["TargetUser"] == "alice"


@pytest.mark.parametrize(("version", "sent"), [("22.6.6", False), ("22.6.7", True)])
async def test_username_filter_from_22_6_7_and_filtered_here_before(version: str, sent: bool) -> None:
    fake = FakeComet(version=version)
    # Before 22.6.7 the server lists everyone; a newer one filters (here: it forgot to, which the
    # client's own filter also covers).
    fake.reply("dispatcher/list-active", CONNECTIONS)
    async with fake_client(fake) as client:
        mine = await client.list_active_connections("alice")
    assert set(mine) == {"c1", "c3"}
    [form] = fake.sent("dispatcher/list-active")
    assert form.get("UserNameFilter") == ("alice" if sent else None)


async def test_listing_everyone_needs_no_version() -> None:
    fake = FakeComet(version=None)
    fake.reply("dispatcher/list-active", CONNECTIONS)
    async with fake_client(fake) as client:
        assert set(await client.list_active_connections()) == {"c1", "c2", "c3"}
    assert fake.calls("meta/version") == 0


async def test_the_version_is_learned_once_for_many_calls() -> None:
    fake = FakeComet(version="20.9.0")
    fake.reply("add-user", carm(), times=None)
    fake.reply("delete-user", carm(), times=None)
    client: CometClient
    async with fake_client(fake) as client:
        for name in ("user0001", "user0002", "user0003"):
            await client.add_user(name, "user-pass-123", require_password_change=True, organization_id="o")
            await client.delete_user(name, uninstall=True)
    assert fake.calls("meta/version") == 1
    assert all("TargetOrganization" not in form for form in fake.sent("add-user"))
