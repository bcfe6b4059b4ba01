"""The runner's crash and replica scenarios at a small size, against the simulator's behaviour
profiles, so run_suites.py stays correct (the figures come from `run_suites.py`;
tests/accounts/test_processes.py has the focused versions)."""

from __future__ import annotations

from pathlib import Path

import pytest
from comet_provisioning.sim import BEHAVIOUR_PROFILES

from tests.reliability.processes import crash_scenario, replica_scenario


@pytest.mark.parametrize("profile", BEHAVIOUR_PROFILES)
async def test_crash_scenario_loses_nothing(tmp_path: Path, profile: str) -> None:
    report = await crash_scenario(tmp_path, creates=60, concurrency=30, behaviour=profile)
    figures = report.as_json()
    assert report.lost == [], figures
    assert report.acked < 60, "the kill came after every create was answered"
    assert report.accounts_verified == 60
    assert report.passwords_lost == [], figures


# Concurrent changes through two replicas meet stale-hash refusals, which "legacy" words as a 400
# with a text and "hostile" also loses behind its proxy; "translated" words them as the reference does.
@pytest.mark.postgres
@pytest.mark.parametrize("profile", ["reference", "legacy", "hostile"])
async def test_replica_scenario_loses_nothing(tmp_path: Path, profile: str) -> None:
    report = await replica_scenario(
        tmp_path, creates=30, changed=15, rounds=1, concurrency=20, behaviour=profile
    )
    figures = report.as_json()
    assert report.lost == [], figures
    assert report.accounts_verified == 30
