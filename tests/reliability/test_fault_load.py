"""Faults during a load run (see faults.py), against each behaviour profile of the simulator: clear
errors while a fault lasts, recovery without help when it ends, nothing lost that a caller was told
succeeded, and no foreign Comet user touched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from comet_provisioning.sim import BEHAVIOUR_PROFILES

from tests.reliability.faults import CLEAR_CODES, FAULTS, FaultLoad
from tests.reliability.support import seeded_world

# A server that is down or slow says nothing, in any profile's words: the profiles that differ from
# the reference only in how Comet words and codes its replies run the faults Comet (or its proxy)
# answers; "hostile" (legacy's replies behind a lossy proxy) runs them all, as the reference does.
ANSWERED_FAULTS = ("http502", "reset", "lockout")
FAULTS_BY_PROFILE = {"legacy": ANSWERED_FAULTS, "translated": ANSWERED_FAULTS}


@pytest.mark.parametrize("profile", BEHAVIOUR_PROFILES)
async def test_faults_during_a_load_run(tmp_path: Path, profile: str) -> None:
    faults = FAULTS_BY_PROFILE.get(profile, FAULTS)
    async with seeded_world(tmp_path, with_accounts=False, behaviour=profile) as world:
        load = FaultLoad(
            world,
            phase_s=1.5,
            create_workers=6,
            change_workers=6,
            pool_size=24,
            call_timeout_s=3.0,
            faults=faults,
        )
        proxy = world.sim.behaviour.proxy_502_every > 0
        report = await load.run()
    figures = report.as_json()
    print(json.dumps(figures, indent=1))
    assert report.lost == [], figures
    assert report.unclear == [], figures
    assert report.accounts_verified >= 24 + report.creates_acked
    assert report.creates_acked > 20, figures
    assert report.changes_acked > 20, figures
    for fault in faults:
        assert report.failures_by_phase.get(fault), f"{fault}: callers saw no failure"
        assert report.recovery_s.get(fault, 99) < 10, f"{fault}: no recovery in time"
    baseline = report.failures_by_phase.get("baseline", {})
    if proxy:
        # Behind a proxy that loses replies, callers see its 502s at any time, as retryable errors.
        assert baseline, figures
        assert {label.split()[0] for label in baseline} <= CLEAR_CODES, figures
    else:
        assert not baseline, figures
    injected = report.faults_injected
    assert injected.get("http502", 0) > 0
    assert injected.get("reset", 0) > 0
    assert injected.get("lockout", 0) > 0
    # Fail fast: when Comet refuses, resets or locks out, no caller waits for its whole deadline.
    for fault in set(faults) - {"slow"}:
        assert report.slowest_failure_s[fault] < load.timeout, (fault, figures)
