"""Counting the Comet calls one operation makes: `counters.snapshot()` and `counters.since()`."""

from __future__ import annotations

import pytest
from comet_provisioning.sim import DEFAULT_PROVIDER_ID, CometSimulator, CountersReset

from .support import Api


async def test_since_counts_exactly_the_calls_after_the_snapshot(api: Api, sim: CometSimulator) -> None:
    await api.add_user("alice01")
    snap = sim.counters.snapshot()
    assert sim.counters.since(snap) == {}
    read = await api.body("get-user-profile-and-hash", TargetUser="alice01")
    await api.body(
        "set-user-profile-hash",
        TargetUser="alice01",
        ProfileData=read["Profile"],
        RequireHash=read["ProfileHash"],
    )
    await api.body("request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID)
    await api.body("request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID)
    assert sim.counters.since(snap) == {
        "get-user-profile-and-hash": 1,
        "set-user-profile-hash": 1,
        "request-storage-vault": 2,
    }
    assert dict(snap.calls) == {"add-user": 1}  # the snapshot does not move


async def test_faulted_and_refused_calls_are_counted(api: Api, sim: CometSimulator) -> None:
    snap = sim.counters.snapshot()
    sim.faults.add("meta/version", "http502", count=1)
    await api.call("meta/version")
    await api.raw("list-users", {**api.auth, "Password": "wrong"})
    assert sim.counters.since(snap) == {"meta/version": 1, "list-users": 1}


async def test_since_refuses_a_snapshot_from_before_a_reset(api: Api, sim: CometSimulator) -> None:
    snap = sim.counters.snapshot()
    await api.add_user("alice01")
    sim.counters.reset()
    with pytest.raises(CountersReset):
        sim.counters.since(snap)
