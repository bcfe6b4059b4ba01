"""The private /__sim__/ control API, used by out-of-process tests and load generators."""

from __future__ import annotations

from typing import Any

import aiohttp
from comet_provisioning.sim import DEFAULT_PROVIDER_ID, CometSimulator

from .support import Api


async def _get(session: aiohttp.ClientSession, sim: CometSimulator, path: str) -> Any:
    async with session.get(f"{sim.base_url}/__sim__/{path}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _post(session: aiohttp.ClientSession, sim: CometSimulator, path: str, body: Any = None) -> Any:
    async with session.post(f"{sim.base_url}/__sim__/{path}", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_state_and_user(api: Api, sim: CometSimulator) -> None:
    await api.add_user("alice01")
    state = await _get(api.session, sim, "state")
    assert state["Version"] == "25.9.0"
    assert state["UserCount"] == 1
    assert state["Users"]["alice01"]["Profile"]["Username"] == "alice01"
    assert state["Users"]["alice01"]["HasRecoveryCode"] is True
    light = await _get(api.session, sim, "state?profiles=0")
    assert "Profile" not in light["Users"]["alice01"]
    user = await _get(api.session, sim, "users/alice01")
    assert user["ProfileHash"] == sim.state.users["alice01"].profile_hash
    async with api.session.get(f"{sim.base_url}/__sim__/users/ghost01") as resp:
        assert resp.status == 404


async def test_counters_and_reset(api: Api, sim: CometSimulator) -> None:
    await api.add_user("alice01")
    await api.call("add-user", TargetUser="alice01", TargetPassword="password-1")
    counters = await _get(api.session, sim, "counters")
    assert counters["calls"]["add-user"] == 2
    assert counters["calls_by_target"]["add-user"]["alice01"] == 2
    assert counters["committed_by_target"]["add-user"]["alice01"] == 1
    assert counters["open_connections"] >= 1
    zeroed = await _post(api.session, sim, "counters/reset")
    assert zeroed["calls"] == {}
    assert (await _get(api.session, sim, "counters"))["calls"] == {}


async def test_control_calls_are_not_counted_or_faulted(api: Api, sim: CometSimulator) -> None:
    sim.faults.add("*", "http502")
    await _get(api.session, sim, "state")
    assert sim.counters.calls == {}


async def test_faults_over_http(api: Api, sim: CometSimulator) -> None:
    plan = {
        "seed": 3,
        "latency_ms": 1,
        "rules": [{"endpoint": "add-user", "kind": "http500", "count": 1}],
        "lockout": {"after_failures": 5, "cooldown_s": 10},
        "hash_conflicts": 1,
    }
    applied = await _post(api.session, sim, "faults", plan)
    assert applied["rules"][0]["kind"] == "http500"
    assert applied["lockout"] == {"after_failures": 5, "cooldown_s": 10.0}
    assert (await _get(api.session, sim, "faults"))["hash_conflicts"] == 1
    reply = await api.call("add-user", TargetUser="alice01", TargetPassword="password-1")
    assert reply.http_status == 500
    merged = await _post(
        api.session, sim, "faults?merge=1", {"rules": [{"endpoint": "meta/version", "kind": "status500"}]}
    )
    assert [r["endpoint"] for r in merged["rules"]] == ["add-user", "meta/version"]
    assert (await api.call("meta/version")).body["Status"] == 500
    async with api.session.delete(f"{sim.base_url}/__sim__/faults") as resp:
        assert (await resp.json())["rules"] == []
    assert (await api.call("meta/version")).body["Version"]
    async with api.session.post(f"{sim.base_url}/__sim__/faults", json={"rules": [{"kind": "boom"}]}) as resp:
        assert resp.status == 400


async def test_reset(api: Api, sim: CometSimulator) -> None:
    await api.add_user("alice01")
    sim.faults.add("never-called", "http502")
    await _post(api.session, sim, "reset")
    assert sim.state.users == {}
    assert sim.counters.calls == {}
    assert sim.faults.rules == []
    assert (await api.body("meta/version"))["Version"]  # admins survive a reset


async def test_seed(api: Api, sim: CometSimulator) -> None:
    created = await _post(
        api.session,
        sim,
        "seed",
        {
            "providers": {"P9": "Seeded provider"},
            "policies": {"pol": {"Description": "Seeded", "Policy": {"PreventDeleteStorageVault": True}}},
            "users": [{"username": "seeded1", "password": "password-9", "profile": {"MaximumDevices": 4}}],
            "devices": [{"username": "seeded1", "device_id": "dev-1", "friendly_name": "NAS"}],
            "protected_items": [{"username": "seeded1", "owner_device": "dev-1", "total_size": 99}],
            "vaults": [{"username": "seeded1", "size": 12345}],
            "connections": [{"username": "seeded1", "device_id": "dev-1"}],
            "jobs": [{"username": "seeded1", "StartTime": 42}],
            "admins": [{"username": "ops", "password": "ops-password"}],
        },
    )
    assert created["users"] == ["seeded1"]
    profile = await api.body("get-user-profile", TargetUser="seeded1")
    assert profile["MaximumDevices"] == 4
    assert profile["Devices"]["dev-1"]["FriendlyName"] == "NAS"
    (item,) = created["protected_items"]
    assert profile["Sources"][item]["Statistics"]["LastBackupJob"]["TotalSize"] == 99
    (vault,) = created["vaults"]
    assert profile["Destinations"][vault]["Statistics"]["ClientProvidedSize"]["Size"] == 12345
    assert set(await api.body("dispatcher/list-active")) == set(created["connections"])
    jobs = await api.body("get-jobs-for-user", TargetUser="seeded1")
    assert [job["StartTime"] for job in jobs] == [42]
    assert (await api.body("request-storage-vault-providers"))["P9"] == "Seeded provider"
    assert (await api.body("policies/get", PolicyID="pol"))["PolicyHash"]
    ops = await api.raw(
        "meta/version", {"Username": "ops", "AuthType": "Password", "Password": "ops-password"}
    )
    assert ops.body["Version"]
    async with api.session.post(
        f"{sim.base_url}/__sim__/seed", json={"devices": [{"username": "ghost"}]}
    ) as resp:
        assert resp.status == 400


async def test_config_switches_version_and_installer(api: Api, sim: CometSimulator) -> None:
    config = await _post(api.session, sim, "config", {"version": "20.9.0", "installer_size": 1000})
    assert config["version"] == "20.9.0"
    assert (await api.body("meta/version"))["Version"] == "20.9.0"
    assert (await api.call("get-user-profile", TargetUser="ghost01")).body["Status"] == 403
    async with api.session.post(sim.url("branding/generate-client/linuxgeneric"), data=api.auth) as resp:
        assert len(await resp.read()) == 1000
    async with api.session.post(f"{sim.base_url}/__sim__/config", json={"version": "banana"}) as resp:
        assert resp.status == 400


async def test_behaviour_over_http(api: Api, sim: CometSimulator) -> None:
    current = await _get(api.session, sim, "behaviour")
    assert current["profile"] == "reference"
    assert current["duplicate_user"] == "code-400"
    legacy = await _post(api.session, sim, "behaviour", {"profile": "legacy"})
    assert legacy["profile"] == "legacy"
    assert sim.state.version.text == "20.9.0"
    assert (await api.call("get-user-profile", TargetUser="ghost01")).body["Status"] == 403
    changed = await _post(api.session, sim, "behaviour", {"language": "es", "proxy_502_every": 0})
    assert changed["profile"] is None
    assert changed["stale_hash"] == "message-400"  # the other switches stay
    assert (await api.call("get-user-profile", TargetUser="ghost01")).body["Message"] == "No autorizado"
    await _post(api.session, sim, "config", {"version": "22.3.9"})
    await _post(api.session, sim, "behaviour", {"null_empty": False})
    assert sim.state.version.text == "22.3.9"  # only a profile or "version" presents a version
    both = await _post(api.session, sim, "behaviour", {"profile": "translated", "clock_offset_s": 30})
    assert (both["language"], both["clock_offset_s"]) == ("es", 30.0)
    assert sim.state.version.text == "22.3.9"  # translated names no version
    assert (await _get(api.session, sim, "behaviour")) == both
    for bad in (
        {"profile": "nice"},
        {"language": "fr"},
        {"proxy_502_every": -2},
        {"nope": 1},
        {"profile": 3},
    ):
        async with api.session.post(f"{sim.base_url}/__sim__/behaviour", json=bad) as resp:
            assert resp.status == 400, bad
    assert (await _get(api.session, sim, "behaviour")) == both


async def test_reset_keeps_the_behaviour(api: Api, sim: CometSimulator) -> None:
    await _post(api.session, sim, "behaviour", {"profile": "hostile"})
    await _post(api.session, sim, "reset")
    assert (await _get(api.session, sim, "behaviour"))["profile"] == "hostile"
    assert sim.state.version.text == "20.9.0"
    # The proxy's count restarts with the reset: the 7th call after it is the first 502.
    statuses = [(await api.call("meta/version")).http_status for _ in range(7)]
    assert statuses == [200] * 6 + [502]


async def test_counters_snapshot_and_since_over_http(api: Api, sim: CometSimulator) -> None:
    await api.add_user("alice01")
    taken = await _post(api.session, sim, "counters/snapshot", {"name": "op"})
    assert taken == {"name": "op", "calls": {"add-user": 1}}
    await _post(api.session, sim, "counters/snapshot")  # "default"
    await api.body("get-user-profile-and-hash", TargetUser="alice01")
    await api.body("request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID)
    await api.call("get-user-profile", TargetUser="ghost01")  # a failed call is a call too
    since = await _get(api.session, sim, "counters/since?name=op")
    assert since == {"get-user-profile-and-hash": 1, "request-storage-vault": 1, "get-user-profile": 1}
    assert await _get(api.session, sim, "counters/since") == since
    async with api.session.get(f"{sim.base_url}/__sim__/counters/since?name=nope") as resp:
        assert resp.status == 404
    await _post(api.session, sim, "counters/snapshot", {"name": "before-reset"})
    await _post(api.session, sim, "counters/reset")
    async with api.session.get(f"{sim.base_url}/__sim__/counters/since?name=before-reset") as resp:
        assert resp.status == 404  # a reset drops the named snapshots
    old = sim.counters.snapshot()
    sim.counters.reset()
    sim.counters.marks["old"] = old
    async with api.session.get(f"{sim.base_url}/__sim__/counters/since?name=old") as resp:
        assert resp.status == 409
