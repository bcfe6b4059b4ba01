"""Account lifecycle endpoints: add-user rules, reset-user-password, delete-user, listing."""

from __future__ import annotations

import aiohttp
import pytest
from comet_provisioning.sim import EXTRA_PROFILE_FIELDS, CometSimulator

from .support import Api, make_sim


async def test_add_user_creates_a_realistic_profile(api: Api) -> None:
    assert await api.add_user("alice01", TargetOrganization="org-1") == {"Status": 200, "Message": "OK"}
    profile = await api.body("get-user-profile", TargetUser="alice01")
    assert profile["Username"] == "alice01"
    for key, value in {
        "AccountName": "",
        "Emails": [],
        "Destinations": {},
        "Sources": {},
        "Devices": {},
        "MaximumDevices": 0,
        "AllProtectedItemsQuotaEnabled": False,
        "AllProtectedItemsQuotaBytes": 0,
        "QuotaOffice365ProtectedAccounts": 0,
        "IsSuspended": False,
        "PolicyID": "",
        "Policy": {},
        "OrganizationID": "org-1",
    }.items():
        assert profile[key] == value, key
    assert isinstance(profile["CreateTime"], int)
    assert profile["CreationGUID"]
    assert profile["PasswordHash"]
    assert profile["PasswordRecovery"]
    assert profile["TOTPKeyEncryptionFormat"] == 0  # the SDKs' name
    assert "TOTPKeyEncodingFormat" not in profile
    for key in EXTRA_PROFILE_FIELDS:
        assert key in profile
    assert api.sim.state.users["alice01"].password == "password-123"


async def test_creation_guids_are_random_per_user(api: Api) -> None:
    await api.add_user("alice01")
    await api.add_user("alice02")
    users = api.sim.state.users
    assert users["alice01"].profile["CreationGUID"] != users["alice02"].profile["CreationGUID"]


async def test_duplicate_add_user(api: Api) -> None:
    await api.add_user("alice01")
    reply = await api.call("add-user", TargetUser="alice01", TargetPassword="password-456")
    assert reply.http_status == 200
    assert reply.body == {"Status": 400, "Message": "ERR_USER_EXISTS"}
    assert api.sim.state.users["alice01"].password == "password-123"


async def test_usernames_are_case_sensitive(api: Api) -> None:
    await api.add_user("Alice01")
    assert (await api.add_user("alice01"))["Status"] == 200
    assert set(api.sim.state.users) == {"Alice01", "alice01"}


@pytest.mark.parametrize("username", ["bad name", "bad/name", "ünïcode", "semi;colon", ""])
async def test_username_charset(api: Api, username: str) -> None:
    reply = await api.call("add-user", TargetUser=username, TargetPassword="password-123")
    assert reply.body["Status"] == 400
    assert username not in api.sim.state.users


async def test_allowed_username_characters(api: Api) -> None:
    assert (await api.add_user("a.B_c-d@e9"))["Status"] == 200


@pytest.mark.parametrize(
    ("version", "username", "accepted"),
    [
        ("20.9.0", "abcde", False),
        ("20.9.0", "abcdef", True),
        ("21.9.9", "abcde", False),
        ("21.9.10", "a", True),
        ("25.9.0", "a", True),
    ],
)
async def test_username_minimum_length_depends_on_version(
    session: aiohttp.ClientSession, version: str, username: str, accepted: bool
) -> None:
    async with make_sim(version=version) as sim:
        api = Api(sim, session)
        reply = await api.call("add-user", TargetUser=username, TargetPassword="password-123")
        assert (reply.body["Status"] == 200) is accepted
        assert (username in sim.state.users) is accepted


async def test_password_minimum_length(api: Api) -> None:
    reply = await api.call("add-user", TargetUser="shorty1", TargetPassword="1234567")
    assert reply.body["Status"] == 400
    assert "shorty1" not in api.sim.state.users
    assert (await api.add_user("longer1", "12345678"))["Status"] == 200


async def test_require_password_change_honoured_from_20_3_4(session: aiohttp.ClientSession) -> None:
    for version, expected in (("20.3.4", True), ("20.3.3", None)):
        async with make_sim(version=version) as sim:
            api = Api(sim, session)
            await api.add_user("forced1", RequirePasswordChange="1")
            assert sim.state.users["forced1"].profile.get("RequirePasswordChange") is expected, version


async def test_reset_password_with_recovery_code(api: Api) -> None:
    await api.add_user("alice01")
    old_hash = api.sim.state.users["alice01"].profile["PasswordHash"]
    reply = await api.body("reset-user-password", TargetUser="alice01", NewPassword="new-password-1")
    assert reply == {"Status": 200, "Message": "OK"}
    record = api.sim.state.users["alice01"]
    assert record.password == "new-password-1"
    assert record.profile["PasswordHash"] != old_hash


async def test_reset_password_needs_recovery_code(api: Api) -> None:
    await api.body("add-user", TargetUser="norecov1", TargetPassword="password-123")
    reply = await api.call("reset-user-password", TargetUser="norecov1", NewPassword="new-password-1")
    assert reply.body["Status"] == 400
    assert api.sim.state.users["norecov1"].password == "password-123"


async def test_reset_password_minimum_length(api: Api) -> None:
    await api.add_user("alice01")
    reply = await api.call("reset-user-password", TargetUser="alice01", NewPassword="short")
    assert reply.body["Status"] == 400
    assert api.sim.state.users["alice01"].password == "password-123"


async def test_delete_twice(api: Api) -> None:
    await api.add_user("alice01")
    config = {"UninstallFlag": True, "RemoveConfigFile": False}
    first = await api.body("delete-user", TargetUser="alice01", UninstallConfig=config)
    assert first == {"Status": 200, "Message": "OK"}
    assert "alice01" not in api.sim.state.users
    assert api.sim.state.deleted_users[-1]["UninstallConfig"] == config
    second = await api.call("delete-user", TargetUser="alice01")
    assert second.body == {"Status": 400, "Message": "User not found"}


async def test_unknown_user_status_depends_on_version(session: aiohttp.ClientSession) -> None:
    expected = {"19.3.0": 400, "20.9.0": 403, "22.3.9": 403, "22.4.0": 400, "25.9.0": 400}
    for version, status in expected.items():
        async with make_sim(version=version) as sim:
            api = Api(sim, session)
            for endpoint in ("get-user-profile", "get-user-profile-and-hash", "delete-user"):
                reply = await api.call(endpoint, TargetUser="ghost01")
                assert reply.http_status == 200
                assert reply.body == {"Status": status, "Message": "User not found"}, (version, endpoint)


async def test_list_users_and_list_users_full(api: Api, sim: CometSimulator) -> None:
    await api.add_user("alice01")
    await api.add_user("bobby01")
    sim.state.seed_policy("pol-1", {"PreventDeleteStorageVault": True})
    profile = sim.state.users["bobby01"].profile
    await api.body("set-user-profile", TargetUser="bobby01", ProfileData={**profile, "PolicyID": "pol-1"})
    assert sorted(await api.body("list-users")) == ["alice01", "bobby01"]
    full = await api.body("list-users-full")
    assert set(full) == {"alice01", "bobby01"}
    assert full["bobby01"]["Policy"] == {"PreventDeleteStorageVault": True}
    assert full["alice01"]["Username"] == "alice01"
