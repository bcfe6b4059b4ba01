"""The load generator at a small size against the in-process service and simulator: the summary's
numbers, re-sends and collisions, and --verify finding what it should (and catching an orphan)."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from comet_provisioning.api.auth import hash_token
from comet_provisioning.config import TokenEntry
from comet_provisioning.loadtest import add_arguments, run_command
from comet_provisioning.loadtest.credentials import CometCredentials
from comet_provisioning.loadtest.exits import LoadTestError
from comet_provisioning.loadtest.foreign import FOREIGN_PROFILE
from comet_provisioning.loadtest.loadtest import LoadTestConfig, run_loadtest
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client import ProvisioningClient
from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import World, make_world, started
from tests.fixtures.db import service_settings
from tests.fixtures.service import free_port
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD


def _foreign_users(world: World) -> list[str]:
    """The users the load seeded as foreign (a name of their own)."""
    wanted = FOREIGN_PROFILE["AccountName"]
    return [name for name, user in world.sim.state.users.items() if user.profile.get("AccountName") == wanted]


async def _client_accounts(world: World) -> AsyncIterator[accounts_pb2.Account]:
    async with ProvisioningClient(f"127.0.0.1:{world.stubs.port}") as client:
        async for account in client.list_accounts(page_size=500):
            yield account


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


async def test_verify_says_failed_when_orders_failed(world: World) -> None:
    world.sim.faults.add("add-user", "http502", rate=1.0)
    summary = await run_loadtest(_config(world, accounts=5, concurrency=5, timeout_s=20))
    assert summary.failed == 5
    verification = summary.verification
    assert verification is not None
    assert verification.failed_orders == 5
    assert not summary.verified
    text = summary.text()
    assert "): FAILED" in text
    assert "): OK" not in text
    assert "5 of 5 orders failed" in text


async def test_verify_reports_comet_users_of_unfinished_orders_and_their_missing_limits(world: World) -> None:
    # add-user and the vault go through, applying the quotas does not: each order leaves a Comet
    # user behind whose account is not ACTIVE and whose profile has none of the product's limits.
    world.sim.faults.add("set-user-profile-hash", "http500", rate=1.0)
    summary = await run_loadtest(
        _config(
            world, accounts=3, concurrency=3, duplicate_fraction=0.0, same_username_fraction=0.0, timeout_s=20
        )
    )
    verification = summary.verification
    assert verification is not None
    created = len(world.sim.state.users)
    assert created == 3
    assert verification.not_active_users == created
    assert verification.unlimited_users == created
    assert not summary.verified
    assert "WITHOUT the product's limits" in summary.text()
    assert summary.to_json()["verification"]["unlimited_users"] == created


async def test_cleanup_terminates_every_account_of_the_run_even_failed_orders(world: World) -> None:
    bystander = await world.stubs.accounts.CreateAccount(
        accounts_pb2.CreateAccountRequest(
            product_id=world.product_id, customer=accounts_pb2.Customer(email="keep@example.com")
        )
    )
    # Two orders fail after their Comet user exists: clean-up finds them by the run's reference.
    for failing in ("ltcln000002", "ltcln000005"):
        world.sim.faults.add("set-user-profile-hash", "http500", rate=1.0, target_user=failing)
    summary = await run_loadtest(
        _config(
            world,
            accounts=8,
            concurrency=4,
            duplicate_fraction=0.0,
            same_username_fraction=0.0,
            verify=False,
            cleanup=True,
            timeout_s=20,
            run_id="cln",
        )
    )
    assert summary.failed == 2
    cleaned = summary.cleanup
    assert cleaned is not None
    assert cleaned.accounts == 8
    assert cleaned.terminated == 8
    assert cleaned.left_on_comet == 0
    assert cleaned.clean
    # On Comet, only the user that was not the run's is left.
    assert set(world.sim.state.users) == {bystander.account.username}
    assert "Cleanup: terminated 8 of 8 accounts of this run: OK" in summary.text()


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("comet-provisioning loadtest: ")
    assert "Traceback" not in captured.err
    return lines[0]


async def test_nothing_listening_is_one_line_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    code = await run_command(_args("--target", f"127.0.0.1:{free_port()}", "--product", "p"))
    assert code == 3
    assert "nothing answers at" in _one_line(capsys)


async def test_an_unknown_product_is_one_line_and_exit_5(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_command(_args("--target", f"127.0.0.1:{world.stubs.port}", "--product", "no-such"))
    assert code == 5
    assert "no product 'no-such'" in _one_line(capsys)
    assert not world.sim.state.users


async def test_a_missing_or_refused_token_is_one_line_and_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMET_PROVISIONING_TOKEN", raising=False)
    token = secrets.token_urlsafe(24)
    settings = dataclasses.replace(
        service_settings(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}", tmp_path / "data"),
        tokens=[TokenEntry(name="ops", hash=hash_token(token), role="provisioner")],
    )
    async with started(settings) as stubs:
        target = f"127.0.0.1:{stubs.port}"
        assert await run_command(_args("--target", target, "--product", "p")) == 4
        assert "needs a token: pass --token or set COMET_PROVISIONING_TOKEN" in _one_line(capsys)
        assert await run_command(_args("--target", target, "--product", "p", "--token", "wrong")) == 4
        assert "refused the token" in _one_line(capsys)
        # With the right token the next problem is the product.
        assert await run_command(_args("--target", target, "--product", "p", "--token", token)) == 5


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("json_output", [False, True])
async def test_progress_only_on_a_terminal_and_never_with_json(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, json_output: bool
) -> None:
    argv = ["--target", f"127.0.0.1:{world.stubs.port}", "--product", world.product_id, "--accounts", "6"]
    # Not a terminal (pytest's capture): no bar.
    assert await run_command(_args(*argv)) == 0
    assert "orders:" not in capsys.readouterr().err
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert await run_command(_args(*argv, *(["--json"] if json_output else []))) == 0
    out = capsys.readouterr().out
    if json_output:
        assert "orders:" not in terminal.getvalue()
        assert json.loads(out.strip().splitlines()[-1])["succeeded"] == 6
        assert "orders" not in out.strip().splitlines()[-1]
    else:
        assert "orders: 100%" in terminal.getvalue()
        assert "ok=6" in terminal.getvalue()
        assert "orders:" not in out


# --- callers that retry, foreign users, the sweep, generated passwords ------------------------------


async def test_callers_retry_with_the_same_request_id(world: World) -> None:
    # The proxy loses the reply of the first quota writes: those orders stay PENDING and the
    # caller's retry (same request_id) finishes them; each retry is a call of the summary.
    world.sim.faults.add("set-user-profile-hash", "http502", count=4)
    config = _config(world, accounts=12, concurrency=4, duplicate_fraction=0.0, same_username_fraction=0.0)
    summary = await run_loadtest(config)
    assert summary.failed == 0
    assert summary.retried >= 1
    assert summary.calls == 12 + summary.retried
    assert summary.codes.get("UNAVAILABLE") == summary.retried
    assert summary.verified, summary.verification
    assert world.sim.counters.committed["add-user"] == 12


async def test_without_retries_the_order_fails_for_the_caller(world: World) -> None:
    world.sim.faults.add("set-user-profile-hash", "http502", count=2)
    config = _config(
        world, accounts=6, concurrency=1, duplicate_fraction=0.0, same_username_fraction=0.0, retries=0
    )
    summary = await run_loadtest(config)
    assert summary.retried == 0
    assert summary.failed == 2
    assert not summary.verified


async def test_foreign_users_are_seeded_under_ordered_names_and_left_alone(world: World) -> None:
    summary = await run_loadtest(
        _config(world, accounts=20, comet=[], simulator_admin=True, foreign_fraction=0.25, run_id="frn")
    )
    verification = summary.verification
    assert verification is not None
    assert verification.foreign is not None
    assert verification.foreign.seeded == 5
    assert verification.foreign.checked == 5
    assert verification.foreign.modified == 0
    assert summary.verified, verification
    foreign = _foreign_users(world)
    assert len(foreign) == 5
    assert all(name.startswith("ltfrn") for name in foreign)
    listed = [a async for a in _client_accounts(world)]
    assert not {a.username for a in listed} & set(foreign)
    # The orders that asked for a foreign name got another one: the original's `_NNNN` suffix (an
    # order whose own name is foreign may have asked for an earlier order's name instead).
    assert sum(1 for a in listed if a.username.split("_")[0] in foreign) >= 3
    assert (
        "foreign Comet users (there before, no account's) 5, of them seeded 5; modified 0" in summary.text()
    )


async def test_verify_catches_a_foreign_user_written_to(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comet_provisioning.comet import CometClient, CometServerConfig
    from comet_provisioning.loadtest import runner

    real_run = runner.run
    written: list[str] = []

    async def run_then_write_to_a_foreign_user(*args: object, **kwargs: object) -> runner.RunResult:
        result = await real_run(*args, **kwargs)  # type: ignore[arg-type]
        name = _foreign_users(world)[0]
        config = CometServerConfig("sim", world.sim.base_url, SIM_ADMIN, SIM_PASSWORD)
        comet = CometClient(config)
        try:
            await comet.update_user_profile(name, lambda p: p.update(MaximumDevices=1) is None)
        finally:
            await comet.aclose()
        written.append(name)
        return result

    monkeypatch.setattr(runner, "run", run_then_write_to_a_foreign_user)
    summary = await run_loadtest(
        _config(world, accounts=8, comet=[], simulator_admin=True, foreign_fraction=0.25, seed=3)
    )
    verification = summary.verification
    assert verification is not None
    assert verification.foreign is not None
    assert verification.foreign.modified == 1
    assert verification.foreign.write_calls == 1
    assert not summary.verified
    problem = next(p for p in verification.problems if written[0] in p)
    assert "MaximumDevices changed" in problem
    assert "ProfileHash changed" in problem


async def test_verify_catches_a_password_that_is_not_the_comet_users(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comet_provisioning.loadtest import runner

    real_run = runner.run

    async def run_then_change_a_password(*args: object, **kwargs: object) -> runner.RunResult:
        result = await real_run(*args, **kwargs)  # type: ignore[arg-type]
        first = next(r for r in result.records if r.code == "OK")
        world.sim.state.users[first.username].password = "changed-behind-the-callers-back"
        return result

    monkeypatch.setattr(runner, "run", run_then_change_a_password)
    summary = await run_loadtest(_config(world, accounts=5, comet=[], simulator_admin=True))
    verification = summary.verification
    assert verification is not None
    assert verification.passwords_checked == 5
    assert verification.passwords_wrong == 1
    assert verification.passwords_not_given == 0
    assert not summary.verified


async def test_foreign_fraction_needs_simulators(world: World) -> None:
    assert await run_command(_args("--target", "x:1", "--product", "p", "--foreign-fraction", "0.1")) == 2
    with pytest.raises(LoadTestError) as refused:
        await run_loadtest(_config(world, accounts=4, foreign_fraction=0.5))
    assert refused.value.exit_code == 2
    assert not world.sim.state.users


async def test_settle_waits_for_the_sweep_to_finish_orders_the_callers_gave_up(
    comet_sim: CometSimulator, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        service_settings(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}", tmp_path / "data"),
        resume_interval_s=0.2,
        provision_retry_delay_s=0.1,
    )
    async with make_world(comet_sim, settings) as world:
        comet_sim.faults.add("set-user-profile-hash", "http502", count=3)
        config = _config(
            world, accounts=6, concurrency=1, duplicate_fraction=0.0, same_username_fraction=0.0, retries=0
        )
        config.settle_timeout_s = 30
        summary = await run_loadtest(config)
    assert summary.settled is not None
    assert summary.settled.unsettled == 0
    verification = summary.verification
    assert verification is not None
    # The callers gave up the orders that met a 502 (the sweep may have met one of the 3 itself);
    # the sweep finished them: every Comet user is an ACTIVE account's.
    assert 1 <= verification.failed_orders <= 3
    assert verification.failed_orders == summary.failed
    assert verification.not_active_users == 0
    assert verification.unlimited_users == 0
    assert verification.orphans == 0
    assert summary.to_json()["settle"]["unsettled"] == 0


async def test_cleanup_retries_a_terminate_and_leaves_foreign_users(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comet_provisioning.loadtest import runner

    real_run = runner.run

    async def run_then_lose_deletes(*args: object, **kwargs: object) -> runner.RunResult:
        result = await real_run(*args, **kwargs)  # type: ignore[arg-type]
        # The first deletes are answered by a proxy's 502, one of them after Comet acted.
        world.sim.faults.add("delete-user", "http502", count=2)
        world.sim.faults.fail_after_commit("delete-user", "http502", count=1)
        return result

    monkeypatch.setattr(runner, "run", run_then_lose_deletes)
    summary = await run_loadtest(
        _config(
            world,
            accounts=6,
            concurrency=1,
            comet=[],
            simulator_admin=True,
            foreign_fraction=0.5,
            cleanup=True,
            run_id="cl2",
        )
    )
    cleaned = summary.cleanup
    assert cleaned is not None
    assert cleaned.terminated == 6
    assert cleaned.left_on_comet == 0
    assert cleaned.foreign_modified == 0
    assert cleaned.clean
    assert len(_foreign_users(world)) == 3
    assert set(world.sim.state.users) == set(_foreign_users(world))


async def test_a_late_retry_gets_the_password_of_an_order_the_sweep_finished(
    comet_sim: CometSimulator, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        service_settings(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}", tmp_path / "data"),
        resume_interval_s=0.2,
        provision_retry_delay_s=0.1,
    )
    async with make_world(comet_sim, settings) as world:
        comet_sim.faults.add("set-user-profile-hash", "http502", count=3)
        config = _config(
            world,
            accounts=6,
            concurrency=1,
            duplicate_fraction=0.0,
            same_username_fraction=0.0,
            retries=0,
            comet=[],
            simulator_admin=True,
            settle_timeout_s=30,
            late_retry=True,
        )
        summary = await run_loadtest(config)
    # Orders failed for their callers, the sweep finished them, the next attempt was answered with
    # the account and the generated password the sweep kept sealed: the Comet user's.
    assert 1 <= summary.retried <= 3
    assert summary.failed == 0
    verification = summary.verification
    assert verification is not None
    assert verification.passwords_checked == 6
    assert verification.passwords_wrong == 0
    assert verification.passwords_not_given == 0
    assert summary.verified, verification
