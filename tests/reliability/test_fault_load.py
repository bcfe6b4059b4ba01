"""Faults during a load run (see faults.py): clear errors while a fault lasts, recovery without
help when it ends, and nothing lost that a caller was told succeeded."""

from __future__ import annotations

import json
from pathlib import Path

from tests.reliability.faults import FAULTS, FaultLoad
from tests.reliability.support import seeded_world


async def test_faults_during_a_load_run(tmp_path: Path) -> None:
    async with seeded_world(tmp_path, with_accounts=False) as world:
        load = FaultLoad(
            world, phase_s=1.5, create_workers=6, change_workers=6, pool_size=24, call_timeout_s=3.0
        )
        report = await load.run()
    figures = report.as_json()
    print(json.dumps(figures, indent=1))
    assert report.lost == [], figures
    assert report.unclear == [], figures
    assert report.accounts_verified >= 24 + report.creates_acked
    assert report.creates_acked > 20, figures
    assert report.changes_acked > 20, figures
    for fault in FAULTS:
        assert report.failures_by_phase.get(fault), f"{fault}: callers saw no failure"
        assert report.recovery_s.get(fault, 99) < 10, f"{fault}: no recovery in time"
    assert not report.failures_by_phase.get("baseline"), figures
    injected = report.faults_injected
    assert injected.get("http502", 0) > 0
    assert injected.get("reset", 0) > 0
    assert injected.get("lockout", 0) > 0
    # Fail fast: when Comet refuses, resets or locks out, no caller waits for its whole deadline.
    for fault in ("down", "http502", "reset", "lockout"):
        assert report.slowest_failure_s[fault] < load.timeout, (fault, figures)
