"""Profile reads and writes: the hash protocol, unknown fields, server-owned fields, policies."""

from __future__ import annotations

import aiohttp
from comet_provisioning.sim import DEFAULT_PROVIDER_ID, EXTRA_PROFILE_FIELDS, CometSimulator

from .support import Api, make_sim


async def _read(api: Api, user: str) -> tuple[str, dict[str, object]]:
    body = await api.body("get-user-profile-and-hash", TargetUser=user)
    assert body["Status"] == 200
    assert body["Message"]
    return body["ProfileHash"], body["Profile"]


async def test_hash_round_trip(api: Api) -> None:
    await api.add_user("alice01")
    profile_hash, profile = await _read(api, "alice01")
    profile["IsSuspended"] = True
    reply = await api.body(
        "set-user-profile-hash", TargetUser="alice01", ProfileData=profile, RequireHash=profile_hash
    )
    assert reply["Status"] == 200
    assert api.sim.state.users["alice01"].profile["IsSuspended"] is True
    new_hash, _ = await _read(api, "alice01")
    assert new_hash != profile_hash
    assert reply["ProfileHash"] == new_hash  # 25.9.0 returns the new hash


async def test_stale_hash_is_refused_and_changes_nothing(api: Api) -> None:
    await api.add_user("alice01")
    stale, profile = await _read(api, "alice01")
    await api.body("set-user-profile", TargetUser="alice01", ProfileData={**profile, "AccountName": "first"})
    reply = await api.call(
        "set-user-profile-hash",
        TargetUser="alice01",
        ProfileData={**profile, "AccountName": "second"},
        RequireHash=stale,
    )
    assert reply.http_status == 200
    assert reply.body == {"Status": 409, "Message": "ERR_PROFILE_HASH_MISMATCH"}
    assert api.sim.state.users["alice01"].profile["AccountName"] == "first"


async def test_hash_changes_on_every_modification(api: Api) -> None:
    await api.add_user("alice01")
    seen = set()
    for _ in range(3):
        profile_hash, profile = await _read(api, "alice01")
        seen.add(profile_hash)
        await api.body(
            "set-user-profile-hash", TargetUser="alice01", ProfileData=profile, RequireHash=profile_hash
        )
    seen.add((await _read(api, "alice01"))[0])
    vault = await api.body("request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID)
    assert vault["Status"] == 200
    seen.add((await _read(api, "alice01"))[0])
    assert len(seen) == 5


async def test_unknown_fields_round_trip_exactly(api: Api) -> None:
    await api.add_user("alice01")
    profile_hash, profile = await _read(api, "alice01")
    profile["ClientInventedField"] = {"deep": [1, {"x": None}]}
    profile["MaximumDevices"] = 3
    await api.body(
        "set-user-profile-hash", TargetUser="alice01", ProfileData=profile, RequireHash=profile_hash
    )
    _, after = await _read(api, "alice01")
    assert after == profile
    for key, value in EXTRA_PROFILE_FIELDS.items():
        assert after[key] == value


async def test_fields_omitted_by_the_client_are_dropped(api: Api) -> None:
    """The stored profile is what was submitted: this is why clients must not drop unknown keys."""
    await api.add_user("alice01")
    profile_hash, profile = await _read(api, "alice01")
    del profile["SimFutureFeature"]
    await api.body(
        "set-user-profile-hash", TargetUser="alice01", ProfileData=profile, RequireHash=profile_hash
    )
    assert "SimFutureFeature" not in api.sim.state.users["alice01"].profile


async def test_server_owned_fields_keep_server_values(api: Api) -> None:
    await api.add_user("alice01")
    original = dict(api.sim.state.users["alice01"].profile)
    profile_hash, profile = await _read(api, "alice01")
    tampered = {
        **profile,
        "Username": "mallory",
        "PasswordHash": "x",
        "CreationGUID": "y",
        "CreateTime": 1,
        "PasswordRecovery": "",
        "TOTPKeyEncryptionFormat": 7,
    }
    await api.body(
        "set-user-profile-hash", TargetUser="alice01", ProfileData=tampered, RequireHash=profile_hash
    )
    stored = api.sim.state.users["alice01"].profile
    for key in (
        "Username",
        "PasswordHash",
        "CreationGUID",
        "CreateTime",
        "PasswordRecovery",
        "TOTPKeyEncryptionFormat",
    ):
        assert stored[key] == original[key], key
    assert "mallory" not in api.sim.state.users


async def test_policy_id_reflected_and_policy_read_only(api: Api) -> None:
    api.sim.state.seed_policy("pol-a", {"PreventDeleteStorageVault": True})
    await api.add_user("alice01")
    profile_hash, profile = await _read(api, "alice01")
    profile["PolicyID"] = "pol-a"
    profile["Policy"] = {"Hacked": True}
    await api.body(
        "set-user-profile-hash", TargetUser="alice01", ProfileData=profile, RequireHash=profile_hash
    )
    _, after = await _read(api, "alice01")
    assert after["PolicyID"] == "pol-a"
    assert after["Policy"] == {"PreventDeleteStorageVault": True}
    assert "Policy" not in api.sim.state.users["alice01"].profile


async def test_invalid_profile_data(api: Api) -> None:
    await api.add_user("alice01")
    profile_hash, _ = await _read(api, "alice01")
    for data in ("{not json", "[1, 2]"):
        reply = await api.call(
            "set-user-profile-hash", TargetUser="alice01", ProfileData=data, RequireHash=profile_hash
        )
        assert reply.body["Status"] == 400


async def test_old_servers_answer_set_hash_with_a_bare_carm(session: aiohttp.ClientSession) -> None:
    for version, full in (("25.6.7", False), ("25.6.8", True), ("20.9.0", False)):
        async with make_sim(version=version) as sim:
            api = Api(sim, session)
            await api.add_user("alice01")
            profile_hash, profile = await _read(api, "alice01")
            reply = await api.body(
                "set-user-profile-hash", TargetUser="alice01", ProfileData=profile, RequireHash=profile_hash
            )
            if full:
                assert set(reply) == {"Status", "Message", "ProfileHash", "Profile"}
                assert reply["ProfileHash"] == sim.state.users["alice01"].profile_hash
            else:
                assert reply == {"Status": 200, "Message": "OK"}, version


async def test_last_suspended_stamped_from_22_12_8(session: aiohttp.ClientSession) -> None:
    for version, stamped in (("22.12.8", True), ("22.12.7", False)):
        async with make_sim(version=version) as sim:
            sim.state.clock = lambda: 1_700_000_000.0
            api = Api(sim, session)
            await api.add_user("alice01")
            profile_hash, profile = await _read(api, "alice01")
            await api.body(
                "set-user-profile-hash",
                TargetUser="alice01",
                ProfileData={**profile, "IsSuspended": True},
                RequireHash=profile_hash,
            )
            stored = sim.state.users["alice01"].profile
            assert stored["IsSuspended"] is True
            assert (stored.get("LastSuspended") == 1_700_000_000) is stamped, version


async def test_set_user_profile_replaces_without_hash(api: Api, sim: CometSimulator) -> None:
    await api.add_user("alice01")
    _, profile = await _read(api, "alice01")
    reply = await api.body(
        "set-user-profile", TargetUser="alice01", ProfileData={**profile, "MaximumDevices": 7}
    )
    assert reply == {"Status": 200, "Message": "OK"}
    assert sim.state.users["alice01"].profile["MaximumDevices"] == 7
    missing = await api.call("set-user-profile", TargetUser="ghost01", ProfileData=profile)
    assert missing.body["Message"] == "User not found"
