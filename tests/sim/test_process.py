"""Persistence to a state file, and the simulator as a standalone process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

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
