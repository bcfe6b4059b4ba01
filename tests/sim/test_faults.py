"""Every fault kind, as a client sees it on the wire, and the state behind it."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from comet_provisioning.sim import CometSimulator

from .support import Api, make_sim


async def test_http502_with_html_body(api: Api) -> None:
    api.sim.faults.add("meta/version", "http502")
    reply = await api.call("meta/version")
    assert reply.http_status == 502
    assert reply.headers["Content-Type"].startswith("text/html")
    assert "<html>" in reply.text
    assert api.sim.counters.faults["http502"] == 1


async def test_http500(api: Api) -> None:
    api.sim.faults.add("add-user", "http500")
    reply = await api.call("add-user", TargetUser="alice01", TargetPassword="password-1")
    assert reply.http_status == 500
    assert "alice01" not in api.sim.state.users


async def test_status500_in_body(api: Api) -> None:
    api.sim.faults.add("meta/version", "status500")
    reply = await api.call("meta/version")
    assert reply.http_status == 200
    assert reply.body["Status"] == 500


async def test_connection_reset(api: Api) -> None:
    api.sim.faults.add("add-user", "reset", count=1)
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.call("add-user", TargetUser="alice01", TargetPassword="password-1")
    assert "alice01" not in api.sim.state.users
    assert (await api.add_user("alice01"))["Status"] == 200


async def test_hang_past_client_timeout(api: Api) -> None:
    api.sim.faults.add("meta/version", "hang", count=1)
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        async with api.session.post(
            api.sim.url("meta/version"), data=api.auth, timeout=aiohttp.ClientTimeout(total=0.3)
        ) as resp:
            await resp.read()
    assert time.monotonic() - started < 2
    assert (await api.body("meta/version"))["Version"]


async def test_hang_with_a_limit_then_reset(api: Api) -> None:
    api.sim.faults.add("meta/version", "hang", hang_s=0.1)
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.call("meta/version")


async def test_stop_ends_hung_requests_promptly() -> None:
    sim = make_sim()
    await sim.start()
    sim.faults.add("*", "hang")
    async with aiohttp.ClientSession() as session:
        pending = asyncio.ensure_future(Api(sim, session).call("meta/version"))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await sim.stop()
        assert time.monotonic() - started < 1.5
        with pytest.raises(aiohttp.ClientError):
            await pending


async def test_latency_and_jitter(session: aiohttp.ClientSession) -> None:
    async with make_sim(latency_ms=120, jitter_ms=30) as sim:
        api = Api(sim, session)
        started = time.monotonic()
        await api.body("meta/version")
        assert 0.12 <= time.monotonic() - started < 1.0


async def test_delay_rule_per_endpoint(api: Api) -> None:
    # A long delay, so that "not delayed" stays far from it even on a loaded machine.
    api.sim.faults.add("add-user", "delay", delay_ms=1000)
    started = time.monotonic()
    await api.body("meta/version")
    assert time.monotonic() - started < 0.9
    started = time.monotonic()
    await api.add_user("alice01")
    assert time.monotonic() - started >= 1.0


async def test_count_limits_a_rule(api: Api) -> None:
    api.sim.faults.add("meta/version", "http502", count=2)
    statuses = [(await api.call("meta/version")).http_status for _ in range(4)]
    assert statuses == [502, 502, 200, 200]


async def test_rule_for_one_target_user(api: Api) -> None:
    api.sim.faults.add("add-user", "http500", target_user="bobby01")
    assert (await api.add_user("alice01"))["Status"] == 200
    reply = await api.call("add-user", TargetUser="bobby01", TargetPassword="password-1")
    assert reply.http_status == 500


async def test_failure_rate_deterministic_when_seeded(session: aiohttp.ClientSession) -> None:
    async def pattern(seed: int) -> list[int]:
        async with make_sim(seed=seed) as sim:
            sim.faults.add("meta/version", "http500", rate=0.5)
            api = Api(sim, session)
            return [(await api.call("meta/version")).http_status for _ in range(40)]

    first = await pattern(7)
    assert first == await pattern(7)
    assert 5 < first.count(500) < 35
    assert set(first) == {200, 500}


async def test_fail_after_commit_502(api: Api) -> None:
    api.sim.faults.fail_after_commit("add-user", "http502")
    reply = await api.call(
        "add-user", TargetUser="alice01", TargetPassword="password-1", StoreRecoveryCode="1"
    )
    assert reply.http_status == 502
    assert "alice01" in api.sim.state.users  # the side effect happened
    assert api.sim.counters.commits_for("add-user", "alice01") == 1
    retry = await api.call("add-user", TargetUser="alice01", TargetPassword="password-1")
    assert retry.body == {"Status": 400, "Message": "ERR_USER_EXISTS"}
    assert api.sim.counters.calls_for("add-user", "alice01") == 2
    assert api.sim.counters.faults["http502_after_commit"] == 1


async def test_fail_after_commit_reset(api: Api) -> None:
    await api.add_user("alice01")
    api.sim.faults.fail_after_commit("request-storage-vault", "reset")
    with pytest.raises(aiohttp.ClientConnectionError):
        await api.call(
            "request-storage-vault", TargetUser="alice01", StorageProvider=next(iter(api.sim.state.providers))
        )
    assert len(api.sim.state.users["alice01"].profile["Destinations"]) == 1


async def test_fail_after_commit_only_fires_on_success(api: Api) -> None:
    await api.add_user("alice01")
    api.sim.faults.fail_after_commit("add-user", "http502", count=1)
    duplicate = await api.call("add-user", TargetUser="alice01", TargetPassword="password-1")
    assert duplicate.body["Message"] == "ERR_USER_EXISTS"
    assert (await api.call("add-user", TargetUser="bobby01", TargetPassword="password-1")).http_status == 502


async def test_forced_hash_conflicts(api: Api, sim: CometSimulator) -> None:
    await api.add_user("alice01")
    sim.faults.force_hash_conflicts(2)
    outcomes = []
    hashes = set()
    for _ in range(3):
        read = await api.body("get-user-profile-and-hash", TargetUser="alice01")
        hashes.add(read["ProfileHash"])
        reply = await api.body(
            "set-user-profile-hash",
            TargetUser="alice01",
            ProfileData={**read["Profile"], "AccountName": "done"},
            RequireHash=read["ProfileHash"],
        )
        outcomes.append(reply["Status"])
    assert outcomes == [409, 409, 200]
    assert len(hashes) == 3  # each conflict moved the stored hash on, as a concurrent edit would
    assert sim.state.users["alice01"].profile["AccountName"] == "done"
    assert sim.counters.faults["hash_conflict"] == 2


def test_fault_rule_validation() -> None:
    sim = make_sim()
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.faults.add("*", "explode")
    with pytest.raises(ValueError, match="rate"):
        sim.faults.add("*", "http502", rate=2)


async def test_clearing_faults_keeps_baseline_latency(session: aiohttp.ClientSession) -> None:
    async with make_sim(latency_ms=80) as sim:
        sim.faults.add("*", "http502")
        sim.faults.latency_ms = 0
        sim.faults.clear()
        assert sim.faults.rules == []
        started = time.monotonic()
        await Api(sim, session).body("meta/version")
        assert time.monotonic() - started >= 0.08


async def test_start_on_a_busy_port_fails_cleanly() -> None:
    async with make_sim() as first:
        assert first.base_url is not None
        port = int(first.base_url.rsplit(":", 1)[1])
        second = make_sim()
        with pytest.raises(OSError, match="address already in use"):
            await second.start(port=port)
        await second.stop()  # a no-op, not an error
