"""Every endpoint of the contract table, through ``CometClient``, against the simulator (in memory).

Assertions are on what the simulated Comet Server ended up holding (``sim.state``) and on what it
saw (``sim.counters``), not only on what the client returned.
"""

from __future__ import annotations

import hashlib
import time

import pytest
from comet_provisioning.comet import (
    CometApiError,
    CometClient,
    CometHashConflict,
    CometUserExists,
    CometUserNotFound,
)
from comet_provisioning.sim import DEFAULT_PROVIDER_ID, CometSimulator, installer_digest

from tests.fixtures.sim import SIM_ADMIN

from .support import CONTRACT_ENDPOINTS, USER_PASSWORD, and_clause, search_clause

pytestmark = pytest.mark.timeout(30)


async def test_meta_version_and_account_properties(client: CometClient, sim: CometSimulator) -> None:
    meta = await client.meta_version()
    assert meta.version == sim.state.version.text
    assert meta.version_tuple == sim.state.version.parts
    assert meta.raw["ServerStartHash"] == sim.state.server_start_hash

    props = await client.account_properties()
    assert set(props) >= {"OrganizationID", "Permissions", "Security"}


async def test_add_user_creates_the_account_with_a_recovery_code(
    client: CometClient, sim: CometSimulator
) -> None:
    await client.add_user("alice01", USER_PASSWORD, require_password_change=True)

    record = sim.state.users["alice01"]
    assert record.password == USER_PASSWORD
    assert record.recovery_code is not None  # StoreRecoveryCode=1 is always sent
    assert record.profile["RequirePasswordChange"] is True
    assert sim.counters.calls_for("add-user", "alice01") == 1
    assert sim.counters.commits_for("add-user", "alice01") == 1


async def test_duplicate_add_user_is_user_exists_and_sent_once(
    client: CometClient, sim: CometSimulator
) -> None:
    sim.state.seed_user("taken01")
    with pytest.raises(CometUserExists) as caught:
        await client.add_user("taken01", USER_PASSWORD)
    assert caught.value.reached_server
    assert not caught.value.retryable
    assert sim.counters.calls_for("add-user", "taken01") == 1
    assert sim.counters.commits_for("add-user", "taken01") == 0


async def test_add_user_refusals_are_api_errors(client: CometClient, sim: CometSimulator) -> None:
    with pytest.raises(CometApiError) as short:
        await client.add_user("shortpw1", "short")
    assert short.value.api_status == 400
    with pytest.raises(CometApiError):
        await client.add_user("bad name!", USER_PASSWORD)
    assert "shortpw1" not in sim.state.users
    assert sim.counters.calls_for("add-user", "shortpw1") == 1


async def test_profile_reads(client: CometClient, sim: CometSimulator) -> None:
    sim.state.seed_user("reader1", profile={"AccountName": "Reader One"})
    profile = await client.get_user_profile("reader1")
    assert profile["Username"] == "reader1"
    assert profile["AccountName"] == "Reader One"
    assert "Policy" in profile  # the read-only effective copy

    current = await client.get_user_profile_and_hash("reader1")
    assert current.hash == sim.state.users["reader1"].profile_hash
    assert current.profile == profile

    with pytest.raises(CometUserNotFound) as caught:
        await client.get_user_profile("nobody1")
    assert caught.value.api_status == 400
    with pytest.raises(CometUserNotFound):
        await client.get_user_profile_and_hash("nobody1")


async def test_set_user_profile_hash_and_stale_hash(client: CometClient, sim: CometSimulator) -> None:
    sim.state.seed_user("hasher1")
    current = await client.get_user_profile_and_hash("hasher1")
    profile = dict(current.profile, IsSuspended=True)

    saved = await client.set_user_profile_hash("hasher1", profile, current.hash)

    record = sim.state.users["hasher1"]
    assert record.profile["IsSuspended"] is True
    assert saved is not None  # 25.9.0 returns the new profile and hash
    assert saved.hash == record.profile_hash != current.hash
    assert saved.profile == sim.state.render_profile(record)
    with pytest.raises(CometHashConflict) as caught:
        await client.set_user_profile_hash("hasher1", current.profile, current.hash)
    assert caught.value.api_status == 409
    assert record.profile["IsSuspended"] is True  # the stale write changed nothing


async def test_set_user_profile_replaces_the_profile(client: CometClient, sim: CometSimulator) -> None:
    sim.state.seed_user("plain01")
    profile = await client.get_user_profile("plain01")
    profile["MaximumDevices"] = 3
    await client.set_user_profile("plain01", profile)
    assert sim.state.users["plain01"].profile["MaximumDevices"] == 3
    with pytest.raises(CometUserNotFound):
        await client.set_user_profile("nobody1", profile)


async def test_reset_user_password(client: CometClient, sim: CometSimulator) -> None:
    sim.state.seed_user("resetme1", "old-password-1")
    await client.reset_user_password("resetme1", "new-password-1")
    assert sim.state.users["resetme1"].password == "new-password-1"

    sim.state.seed_user("norecov1", "old-password-1", store_recovery_code=False)
    with pytest.raises(CometApiError) as caught:
        await client.reset_user_password("norecov1", "new-password-1")
    assert caught.value.api_status == 400
    assert sim.state.users["norecov1"].password == "old-password-1"
    with pytest.raises(CometUserNotFound):
        await client.reset_user_password("nobody1", "new-password-1")
    assert sim.counters.calls_for("reset-user-password", "nobody1") == 1


async def test_delete_user_twice(client: CometClient, sim: CometSimulator) -> None:
    sim.state.seed_user("goner01")
    await client.delete_user("goner01", uninstall=True, remove_config=True)
    assert "goner01" not in sim.state.users
    assert sim.state.deleted_users[-1]["UninstallConfig"] == {
        "UninstallFlag": True,
        "RemoveConfigFile": True,
    }
    with pytest.raises(CometUserNotFound):
        await client.delete_user("goner01")
    assert sim.counters.calls_for("delete-user", "goner01") == 2
    assert sim.counters.commits_for("delete-user", "goner01") == 1


async def test_list_users_and_full(client: CometClient, sim: CometSimulator) -> None:
    assert await client.list_users() == []
    assert await client.list_users_full() == {}
    for name in ("listed01", "listed02", "Status"):
        sim.state.seed_user(name)
    assert sorted(await client.list_users()) == ["Status", "listed01", "listed02"]
    full = await client.list_users_full()
    assert sorted(full) == ["Status", "listed01", "listed02"]
    assert full["Status"]["Username"] == "Status"  # a user named Status is not a failure reply


async def test_policies(client: CometClient, sim: CometSimulator) -> None:
    assert await client.get_policy("pol-whmcs-1") is None
    group = {
        "Description": "WHMCS product 1",
        "OrganizationID": "",
        "Policy": {"PreventDeleteStorageVault": True, "ModeAdminResetPassword": 3},
        "DefaultUserPolicy": False,
    }
    await client.set_policy("pol-whmcs-1", group)  # upsert: creates
    got = await client.get_policy("pol-whmcs-1")
    assert got is not None
    assert got.policy == group
    assert got.hash == sim.state.policies["pol-whmcs-1"].policy_hash

    changed = dict(group, Description="renamed")
    await client.set_policy("pol-whmcs-1", changed, check_hash=got.hash)
    assert sim.state.policies["pol-whmcs-1"].group_policy["Description"] == "renamed"
    with pytest.raises(CometHashConflict):
        await client.set_policy("pol-whmcs-1", group, check_hash=got.hash)

    created = await client.new_policy(dict(group, Description="server-chosen id"))
    assert created.policy_hash
    listed = await client.list_policies()
    assert listed["pol-whmcs-1"] == "renamed"
    assert "server-chosen id" in listed.values()
    assert len(listed) == 2


async def test_storage_vaults(client: CometClient, sim: CometSimulator) -> None:
    providers = await client.list_storage_providers()
    assert DEFAULT_PROVIDER_ID in providers
    sim.state.seed_user("vaulter1")

    first = (await client.request_storage_vault("vaulter1", DEFAULT_PROVIDER_ID)).destination_id
    second = (
        await client.request_storage_vault(
            "vaulter1", DEFAULT_PROVIDER_ID, self_address="https://comet.example"
        )
    ).destination_id

    destinations = sim.state.users["vaulter1"].profile["Destinations"]
    assert first != second
    assert set(destinations) == {first, second}  # a new vault on every call
    assert {v["DestinationType"] for v in destinations.values()} == {1003}
    with pytest.raises(CometApiError) as caught:
        await client.request_storage_vault("vaulter1", "no-such-provider")
    assert caught.value.api_status == 400
    assert len(sim.state.users["vaulter1"].profile["Destinations"]) == 2


async def test_devices_and_connections(client: CometClient, sim: CometSimulator) -> None:
    state = sim.state
    state.seed_user("device01")
    state.seed_user("device02")
    dev1 = state.seed_device("device01", friendly_name="LAPTOP")
    conn1 = state.seed_connection("device01", dev1)
    conn2 = state.seed_connection("device02", state.seed_device("device02"))

    active = await client.list_active_connections()
    assert set(active) == {conn1, conn2}
    assert active[conn1]["Username"] == "device01"
    only = await client.list_active_connections("device02")
    assert set(only) == {conn2}

    await client.refetch_profile(conn1)
    assert state.refetch_requests == [conn1]
    with pytest.raises(CometApiError):
        await client.refetch_profile("no-such-connection")

    await client.revoke_device("device01", dev1)
    assert state.revoked_devices == [("device01", dev1)]
    assert dev1 not in state.users["device01"].profile["Devices"]
    assert conn1 not in await client.list_active_connections()
    with pytest.raises(CometApiError) as caught:
        await client.revoke_device("device01", dev1)
    assert caught.value.api_status == 400


async def test_jobs(client: CometClient, sim: CometSimulator) -> None:
    state = sim.state
    state.seed_user("jobber01")
    state.seed_user("jobber02")
    now = int(time.time())
    old = state.seed_job("jobber01", StartTime=now - 30 * 86400, EndTime=now - 30 * 86400 + 60)
    recent = state.seed_job("jobber01", StartTime=now - 3600, EndTime=now - 3500, TotalSize=1234)
    state.seed_job("jobber02", StartTime=now - 60)

    jobs = await client.get_jobs_for_user("jobber01")
    assert {j["GUID"] for j in jobs} == {old["GUID"], recent["GUID"]}
    assert await client.get_jobs_for_user("jobber02") != []
    with pytest.raises(CometUserNotFound):
        await client.get_jobs_for_user("nobody1")

    query = and_clause(
        search_clause("BackupJobDetail.Username", "str_eq", "jobber01"),
        search_clause("BackupJobDetail.StartTime", "int_gt", str(now - 14 * 86400)),
    )
    found = await client.get_jobs_for_custom_search(query)
    assert [j["GUID"] for j in found] == [recent["GUID"]]
    assert found[0]["TotalSize"] == 1234


async def test_sessions(client: CometClient, sim: CometSimulator) -> None:
    sim.state.seed_user("session1")
    admin = await client.start_admin_session("https://comet.example")
    assert admin.type == "admin"
    assert sim.state.sessions[admin.key].username == SIM_ADMIN
    user = await client.start_user_session("session1")
    assert user.type == "user"
    assert sim.state.sessions[user.key].username == "session1"
    assert user.key not in repr(user)
    with pytest.raises(CometUserNotFound):
        await client.start_user_session("nobody1")


async def test_every_contract_endpoint_round_trips(client: CometClient, sim: CometSimulator) -> None:
    """One provisioning life cycle touching every endpoint of the table, each committed server-side."""
    state = sim.state
    sim.settings.installer_size = 200_000
    await client.meta_version()
    await client.account_properties()
    await client.list_storage_providers()
    await client.set_policy("pol-1", {"Description": "p", "Policy": {}})
    await client.new_policy({"Description": "q", "Policy": {}})
    await client.list_policies()
    await client.get_policy("pol-1")
    await client.add_user("cycle001", USER_PASSWORD)
    await client.get_user_profile("cycle001")
    await client.request_storage_vault("cycle001", DEFAULT_PROVIDER_ID)
    await client.update_user_profile("cycle001", lambda p: p.update(PolicyID="pol-1"))
    profile = await client.get_user_profile("cycle001")
    await client.set_user_profile("cycle001", profile)
    await client.reset_user_password("cycle001", "another-pass-1")
    device = state.seed_device("cycle001")
    conn = state.seed_connection("cycle001", device)
    await client.list_active_connections("cycle001")
    await client.refetch_profile(conn)
    await client.revoke_device("cycle001", device)
    state.seed_job("cycle001")
    await client.get_jobs_for_user("cycle001")
    await client.get_jobs_for_custom_search(search_clause("Username", "str_eq", "cycle001"))
    await client.start_admin_session()
    await client.start_user_session("cycle001")
    async with client.download_client("linuxgeneric") as download:
        digest = hashlib.sha256()
        async for chunk in download.iter_chunks():
            digest.update(chunk)
    assert digest.hexdigest() == installer_digest("linuxgeneric", 200_000, seed=sim.settings.installer_seed)
    await client.list_users()
    await client.list_users_full()
    await client.delete_user("cycle001")

    assert set(sim.counters.committed) == CONTRACT_ENDPOINTS
    assert all(sim.counters.calls[e] == sim.counters.committed[e] for e in CONTRACT_ENDPOINTS)
    assert sim.counters.auth_failures == 0
    assert state.users == {}
