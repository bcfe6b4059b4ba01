"""Each endpoint sends exactly the documented form fields (auth in the body, 1/0 booleans, JSON fields)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from comet_provisioning.comet import (
    CometClient,
    MetaVersion,
    NewPolicyResult,
    PolicyAndHash,
    ProfileAndHash,
    RequestedVault,
    SessionKey,
)

from tests.fakes.memory_comet import MemoryComet

from .conftest import CometFactory
from .support import AUTH, memory_client

CARM = {"Status": 200, "Message": "OK"}
PROFILE = {"Username": "alice", "IsSuspended": False, "Unknown": {"Nested": [1, 2, {"x": None}]}}
POLICY = {"Description": "Product 7", "Policy": {"PreventDeleteStorageVault": True}}
QUERY = {"ClauseType": "and", "ClauseChildren": []}

Call = Callable[[CometClient], Awaitable[Any]]

# (id, call, endpoint, reply, expected extra form fields (JSON ones decoded), expected result)
CASES: list[tuple[str, Call, str, Any, dict[str, Any], Any]] = [
    (
        "meta_version",
        lambda c: c.meta_version(),
        "meta/version",
        {"Version": "24.12.2", "ServerStartHash": "x"},
        {},
        MetaVersion(version="24.12.2", raw={"Version": "24.12.2", "ServerStartHash": "x"}),
    ),
    (
        "account_properties",
        lambda c: c.account_properties(),
        "account/properties",
        {"OrganizationID": "", "Permissions": {}},
        {},
        {"OrganizationID": "", "Permissions": {}},
    ),
    (
        "add_user_defaults",
        lambda c: c.add_user("alice", "user-pass-123"),
        "add-user",
        CARM,
        {
            "TargetUser": "alice",
            "TargetPassword": "user-pass-123",
            "StoreRecoveryCode": "1",
        },
        None,
    ),
    (
        "add_user_options",
        lambda c: c.add_user("alice", "user-pass-123", require_password_change=True, organization_id="org-9"),
        "add-user",
        CARM,
        {
            "TargetUser": "alice",
            "TargetPassword": "user-pass-123",
            "StoreRecoveryCode": "1",
            "RequirePasswordChange": "1",
            "TargetOrganization": "org-9",
        },
        None,
    ),
    (
        "get_user_profile",
        lambda c: c.get_user_profile("alice"),
        "get-user-profile",
        PROFILE,
        {"TargetUser": "alice"},
        PROFILE,
    ),
    (
        "get_user_profile_and_hash",
        lambda c: c.get_user_profile_and_hash("alice"),
        "get-user-profile-and-hash",
        {"Status": 200, "Message": "OK", "ProfileHash": "h1", "Profile": PROFILE},
        {"TargetUser": "alice"},
        ProfileAndHash(profile=PROFILE, hash="h1"),
    ),
    (
        "set_user_profile_hash_old_server",
        lambda c: c.set_user_profile_hash("alice", PROFILE, "h1"),
        "set-user-profile-hash",
        CARM,
        {"TargetUser": "alice", "ProfileData": PROFILE, "RequireHash": "h1"},
        None,
    ),
    (
        "set_user_profile_hash_new_server",
        lambda c: c.set_user_profile_hash("alice", PROFILE, "h1"),
        "set-user-profile-hash",
        {"Status": 200, "Message": "OK", "ProfileHash": "h2", "Profile": PROFILE},
        {"TargetUser": "alice", "ProfileData": PROFILE, "RequireHash": "h1"},
        ProfileAndHash(profile=PROFILE, hash="h2"),
    ),
    (
        "set_user_profile",
        lambda c: c.set_user_profile("alice", PROFILE),
        "set-user-profile",
        CARM,
        {"TargetUser": "alice", "ProfileData": PROFILE},
        None,
    ),
    (
        "reset_user_password",
        lambda c: c.reset_user_password("alice", "new-pass-123"),
        "reset-user-password",
        CARM,
        {"TargetUser": "alice", "NewPassword": "new-pass-123"},
        None,
    ),
    (
        "reset_user_password_with_old",
        lambda c: c.reset_user_password("alice", "new-pass-123", "old-pass-123"),
        "reset-user-password",
        CARM,
        {"TargetUser": "alice", "NewPassword": "new-pass-123", "OldPassword": "old-pass-123"},
        None,
    ),
    ("delete_user", lambda c: c.delete_user("alice"), "delete-user", CARM, {"TargetUser": "alice"}, None),
    (
        "delete_user_uninstall",
        lambda c: c.delete_user("alice", uninstall=True),
        "delete-user",
        CARM,
        {"TargetUser": "alice", "UninstallConfig": {"UninstallFlag": True, "RemoveConfigFile": False}},
        None,
    ),
    (
        "delete_user_uninstall_remove_config",
        lambda c: c.delete_user("alice", uninstall=True, remove_config=True),
        "delete-user",
        CARM,
        {"TargetUser": "alice", "UninstallConfig": {"UninstallFlag": True, "RemoveConfigFile": True}},
        None,
    ),
    ("list_users", lambda c: c.list_users(), "list-users", ["alice", "bob"], {}, ["alice", "bob"]),
    (
        "list_users_full",
        lambda c: c.list_users_full(),
        "list-users-full",
        {"alice": PROFILE},
        {},
        {"alice": PROFILE},
    ),
    ("list_policies", lambda c: c.list_policies(), "policies/list", {"p1": "One"}, {}, {"p1": "One"}),
    (
        "list_policies_full",
        lambda c: c.list_policies_full("org-9"),
        "policies/list-full",
        {"p1": POLICY},
        {"TargetOrganization": "org-9"},
        {"p1": POLICY},
    ),
    (
        "list_policies_org",
        lambda c: c.list_policies("org-9"),
        "policies/list",
        {},
        {"TargetOrganization": "org-9"},
        {},
    ),
    (
        "get_policy",
        lambda c: c.get_policy("p1"),
        "policies/get",
        {"Status": 200, "Message": "OK", "Policy": POLICY, "PolicyHash": "ph"},
        {"PolicyID": "p1"},
        PolicyAndHash(policy=POLICY, hash="ph"),
    ),
    (
        "get_policy_missing",
        lambda c: c.get_policy("nope"),
        "policies/get",
        {"Status": 200, "Message": "OK", "Policy": {}, "PolicyHash": ""},
        {"PolicyID": "nope"},
        None,
    ),
    (
        "set_policy",
        lambda c: c.set_policy("p1", POLICY),
        "policies/set",
        CARM,
        {"PolicyID": "p1", "Policy": POLICY},
        None,
    ),
    (
        "set_policy_checked",
        lambda c: c.set_policy("p1", POLICY, check_hash="ph"),
        "policies/set",
        CARM,
        {"PolicyID": "p1", "Policy": POLICY, "CheckPolicyHash": "ph"},
        None,
    ),
    (
        "new_policy",
        lambda c: c.new_policy(POLICY),
        "policies/new",
        {"Status": 200, "Message": "OK", "PolicyHash": "ph"},
        {"Policy": POLICY},
        NewPolicyResult(policy_hash="ph", policy_id=None),
    ),
    (
        "list_storage_providers",
        lambda c: c.list_storage_providers("org-9"),
        "request-storage-vault-providers",
        {"prov-1": "Comet Storage"},
        {"TargetOrganization": "org-9"},
        {"prov-1": "Comet Storage"},
    ),
    (
        "request_storage_vault",
        lambda c: c.request_storage_vault("alice", "prov-1", self_address="https://portal.example"),
        "request-storage-vault",
        {"Status": 200, "Message": "OK", "DestinationID": "dest-1"},
        {"TargetUser": "alice", "StorageProvider": "prov-1", "SelfAddress": "https://portal.example"},
        RequestedVault("dest-1", None, None),
    ),
    (
        "request_storage_vault_with_hash",
        lambda c: c.request_storage_vault("alice", "prov-1", profile_hash="h1"),
        "request-storage-vault",
        {"Status": 200, "Message": "OK", "DestinationID": "dest-1", "ProfileHash": "h2", "Profile": PROFILE},
        {"TargetUser": "alice", "StorageProvider": "prov-1", "ProfileHash": "h1"},
        RequestedVault("dest-1", PROFILE, "h2"),
    ),
    (
        "list_active_connections",
        lambda c: c.list_active_connections("alice"),
        "dispatcher/list-active",
        {"conn-1": {"Username": "alice", "DeviceID": "d1"}},
        {"UserNameFilter": "alice"},
        {"conn-1": {"Username": "alice", "DeviceID": "d1"}},
    ),
    (
        "refetch_profile",
        lambda c: c.refetch_profile("conn-1"),
        "dispatcher/refetch-profile",
        CARM,
        {"TargetID": "conn-1"},
        None,
    ),
    (
        "revoke_device",
        lambda c: c.revoke_device("alice", "d1"),
        "revoke-device",
        CARM,
        {"TargetUser": "alice", "TargetDevice": "d1"},
        None,
    ),
    (
        "get_jobs_for_user",
        lambda c: c.get_jobs_for_user("alice"),
        "get-jobs-for-user",
        [{"GUID": "j1", "Status": 5000}],
        {"TargetUser": "alice"},
        [{"GUID": "j1", "Status": 5000}],
    ),
    (
        "get_jobs_for_user_null",
        lambda c: c.get_jobs_for_user("alice"),
        "get-jobs-for-user",
        None,
        {"TargetUser": "alice"},
        [],
    ),
    (
        "get_jobs_for_custom_search",
        lambda c: c.get_jobs_for_custom_search(QUERY),
        "get-jobs-for-custom-search",
        [],
        {"Query": QUERY},
        [],
    ),
    (
        "start_admin_session",
        lambda c: c.start_admin_session("https://portal.example"),
        "account/session-start",
        {"Status": 200, "Message": "OK", "SessionKey": "sk", "SessionType": "admin"},
        {"SelfAddress": "https://portal.example"},
        SessionKey(key="sk", type="admin"),
    ),
    (
        "start_user_session",
        lambda c: c.start_user_session("alice"),
        "account/session-start-as-user",
        {"Status": 200, "Message": "OK", "SessionKey": "sk", "SessionType": "user"},
        {"TargetUser": "alice"},
        SessionKey(key="sk", type="user"),
    ),
]

JSON_FIELDS = {"ProfileData", "Policy", "Query", "UninstallConfig"}


@pytest.mark.parametrize(
    ("call", "endpoint", "reply", "fields", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_endpoint_form_and_result(
    client: CometClient,
    comet: MemoryComet,
    call: Call,
    endpoint: str,
    reply: Any,
    fields: dict[str, Any],
    expected: Any,
) -> None:
    # The reply is scripted, to check the result read from it; the simulator (25.9.0) answers
    # meta/version for the parameters only some releases accept.
    comet.reply(endpoint, reply)

    result = await call(client)

    assert result == expected
    [form] = comet.sent(endpoint)
    decoded = {k: json.loads(v) if k in JSON_FIELDS else v for k, v in form.items()}
    assert decoded == {**AUTH, **fields}
    assert all(isinstance(v, str) for v in form.values())


async def test_profile_json_keeps_big_integers_and_unicode(client: CometClient, comet: MemoryComet) -> None:
    comet.state.seed_user("zoe.1")
    profile = {
        "Username": "zoe.1",
        "AccountName": "Zoë",
        "Destinations": {"d": {"StorageLimitBytes": 2**64 - 1}},
    }

    await client.set_user_profile("zoe.1", profile)

    [form] = comet.sent("set-user-profile")
    assert json.loads(form["ProfileData"]) == profile
    assert "18446744073709551615" in form["ProfileData"]
    stored = comet.state.users["zoe.1"].profile
    assert stored["AccountName"] == "Zoë"
    assert stored["Destinations"]["d"]["StorageLimitBytes"] == 18446744073709551615


async def test_meta_version_exposes_numeric_version(make_comet: CometFactory) -> None:
    async with memory_client(make_comet(version="20.3.4")) as client:
        meta = await client.meta_version()
    assert meta.version_tuple == (20, 3, 4)


async def test_download_platform_is_validated(client: CometClient) -> None:
    with pytest.raises(ValueError, match="platform"):
        async with client.download_client("../meta/version"):
            pass
