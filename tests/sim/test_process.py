"""Persistence to a state file, and the simulator as a standalone process with its CLI flags."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from comet_provisioning.sim import PRESETS, Behaviour
from comet_provisioning.sim.cli import add_arguments, behaviour_from_args, run

from .support import ADMIN, Api, make_sim


async def test_state_file_round_trip(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    path = tmp_path / "comet-state.json"
    async with make_sim(state_file=path) as sim:
        api = Api(sim, session)
        await api.add_user("alice01")
        await api.body("policies/set", PolicyID="p1", Policy={"Description": "d", "Policy": {}})
        sim.state.seed_job("alice01", TotalSize=5)
        profile_hash = sim.state.users["alice01"].profile_hash
    assert json.loads(path.read_text())["Users"]["alice01"]["Password"] == "password-123"
    async with make_sim(state_file=path) as again:
        api = Api(again, session)
        read = await api.body("get-user-profile-and-hash", TargetUser="alice01")
        assert read["ProfileHash"] == profile_hash
        assert (await api.body("reset-user-password", TargetUser="alice01", NewPassword="password-456"))[
            "Status"
        ] == 200
        assert set(await api.body("policies/list")) == {"p1"}
        assert len(await api.body("get-jobs-for-user", TargetUser="alice01")) == 1


async def test_module_runs_until_sigterm(session: aiohttp.ClientSession) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "comet_provisioning.sim",
            "--listen",
            "127.0.0.1:0",
            "--admin-user",
            ADMIN,
            "--admin-password",
            "cli-password",
            "--version",
            "20.9.0",
            "--seed",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on http://" in line, line + (proc.stderr.read() if proc.stderr else "")
        url = line.rsplit(" ", 1)[1].strip()
        form = {"Username": ADMIN, "AuthType": "Password", "Password": "cli-password"}
        async with session.post(f"{url}/api/v1/admin/meta/version", data=form) as resp:
            assert (await resp.json())["Version"] == "20.9.0"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--admin-password", "pw-123456", *argv])


def test_behaviour_flags() -> None:
    assert behaviour_from_args(_parse()) == PRESETS["reference"]
    assert behaviour_from_args(_parse("--behaviour", "translated")) == PRESETS["translated"]
    custom = behaviour_from_args(
        _parse(
            "--behaviour",
            "legacy",
            "--language",
            "es",
            "--no-null-empty",
            "--proxy-502-every",
            "5",
            "--proxy-after-fraction",
            "0.25",
            "--clock-offset-s",
            "-12.5",
            "--duplicate-user",
            "message-400",
            "--unknown-policy",
            "ok-empty",
            "--unknown-user",
            "400",
            "--unknown-user-message",
            "Nope",
            "--stale-hash",
            "code-409",
        )
    )
    assert custom == Behaviour(
        version="20.9.0",
        language="es",
        null_empty=False,
        proxy_502_every=5,
        proxy_after_fraction=0.25,
        clock_offset_s=-12.5,
        duplicate_user="message-400",
        unknown_policy="ok-empty",
        unknown_user="400",
        unknown_user_message="Nope",
        stale_hash="code-409",
    )
    assert behaviour_from_args(_parse("--null-empty")).null_empty is True
    for bad in (["--behaviour", "nice"], ["--language", "fr"], ["--proxy-502-every", "x"]):
        with pytest.raises(SystemExit):
            _parse(*bad)


async def test_invalid_switch_combination_exits_with_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(_parse("--listen", "127.0.0.1:0", "--proxy-after-fraction", "2")) == 2
    assert "proxy_after_fraction" in capsys.readouterr().err


async def test_module_runs_a_behaviour_profile(session: aiohttp.ClientSession) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "comet_provisioning.sim",
            "--listen",
            "127.0.0.1:0",
            "--admin-password",
            "cli-password",
            "--behaviour",
            "hostile",
            "--proxy-502-every",
            "0",
            "--language",
            "es",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "20.9.0 (custom) listening on http://" in line, line + (
            proc.stderr.read() if proc.stderr else ""
        )
        url = line.rsplit(" ", 1)[1].strip()
        form = {"Username": ADMIN, "AuthType": "Password", "Password": "cli-password"}
        async with session.post(
            f"{url}/api/v1/admin/get-user-profile", data={**form, "TargetUser": "x"}
        ) as resp:
            assert await resp.json() == {"Status": 403, "Message": "No autorizado"}
        async with session.get(f"{url}/__sim__/behaviour") as resp:
            behaviour = await resp.json()
        assert (behaviour["clock_offset_s"], behaviour["proxy_502_every"], behaviour["null_empty"]) == (
            45.0,
            0,
            True,
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
