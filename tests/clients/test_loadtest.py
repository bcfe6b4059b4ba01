"""The load generator at a small size against the in-process service and simulator: the summary's
numbers, re-sends and collisions, and --verify finding what it should (and catching an orphan)."""

from __future__ import annotations

import argparse
import json

import pytest
from comet_provisioning.loadtest import add_arguments, run_command
from comet_provisioning.loadtest.credentials import CometCredentials
from comet_provisioning.loadtest.loadtest import LoadTestConfig, run_loadtest

from tests.accounts.conftest import World
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD


def _config(world: World, **overrides: object) -> LoadTestConfig:
    config = LoadTestConfig(
        target=f"127.0.0.1:{world.stubs.port}",
        product_id=world.product_id,
        accounts=50,
        concurrency=10,
        duplicate_fraction=0.2,
        same_username_fraction=0.2,
        verify=True,
        comet=[CometCredentials(world.sim.base_url, SIM_ADMIN, SIM_PASSWORD)],
        seed=7,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


async def test_small_load_verifies_clean(world: World) -> None:
    summary = await run_loadtest(_config(world))
    assert summary.requested == 50
    assert summary.succeeded == 50
    assert summary.failed == 0
    assert summary.duplicates == 0
    assert summary.orphans == 0
    assert summary.verified, summary.verification
    assert summary.resent > 0
    assert summary.resent_consistent == summary.resent
    assert summary.collisions > 0
    assert summary.collisions_renamed == summary.collisions
    assert summary.calls == 50 + summary.resent
    assert summary.codes == {"OK": summary.calls}
    # What the simulator holds: one Comet user per order, one add-user per account.
    assert len(world.sim.state.users) == 50
    assert world.sim.counters.committed["add-user"] == 50
    assert world.sim.counters.committed["request-storage-vault"] == 50
    assert summary.verification is not None
    assert summary.verification.checked_users == 50
    data = summary.to_json()
    for key in ("requested", "succeeded", "failed", "duplicates", "orphans", "creates_per_s"):
        assert key in data
    assert data["p50_ms"] <= data["p95_ms"] <= data["p99_ms"]
    assert "Latency distribution:" in summary.text()


async def test_verify_catches_an_orphan_and_a_wrong_quota(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(world, accounts=10, duplicate_fraction=0.0, same_username_fraction=0.0)

    # A Comet user that appears during the run and that no account points at, and one account's
    # quota changed behind the service's back: both must be reported.
    from comet_provisioning.loadtest import runner

    real_run = runner.run

    async def run_then_tamper(*args: object, **kwargs: object) -> runner.RunResult:
        result = await real_run(*args, **kwargs)  # type: ignore[arg-type]
        world.sim.state.seed_user("strayuser01", "a-Password-123")
        first = next(r for r in result.records if r.code == "OK")
        world.sim.state.users[first.username].profile["MaximumDevices"] = 999
        return result

    monkeypatch.setattr(runner, "run", run_then_tamper)
    summary = await run_loadtest(config)
    assert summary.succeeded == 10
    assert summary.orphans == 1
    assert summary.verification is not None
    assert summary.verification.mismatched == 1
    assert not summary.verified


async def test_command_exit_code_and_json_last_line(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        [
            "--target",
            f"127.0.0.1:{world.stubs.port}",
            "--product",
            world.product_id,
            "--accounts",
            "20",
            "--concurrency",
            "5",
            "--duplicate-fraction",
            "0.1",
            "--verify",
            "--comet",
            world.sim.base_url,
            "--comet-user",
            SIM_ADMIN,
            "--comet-password",
            SIM_PASSWORD,
            "--json",
        ]
    )
    assert await run_command(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    data = json.loads(last)
    assert data["requested"] == 20
    assert data["succeeded"] == 20
    assert data["verified"] is True
    assert data["orphans"] == 0


async def test_simulator_admin_verifies_without_passwords(world: World) -> None:
    summary = await run_loadtest(_config(world, accounts=10, comet=[], simulator_admin=True))
    assert summary.verified, summary.verification
    assert summary.verification is not None
    assert summary.verification.checked_users == 10


async def test_verify_without_credentials_is_a_usage_error(world: World) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--target", "x:1", "--product", "p", "--verify"])
    assert await run_command(args) == 2


async def test_failures_are_counted_by_code_and_reason(world: World) -> None:
    world.sim.faults.add("add-user", "http502", rate=1.0)
    summary = await run_loadtest(_config(world, accounts=5, concurrency=5, verify=False, timeout_s=20))
    assert summary.failed == 5
    assert summary.succeeded == 0
    assert "OK" not in summary.codes
    assert summary.reasons
