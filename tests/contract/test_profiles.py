"""Profiles stay JSON through a read-modify-write, and the hash protocol resolves conflicts."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest
from comet_provisioning.comet import CometClient, CometHashConflict
from comet_provisioning.sim import EXTRA_PROFILE_FIELDS, CometSimulator

pytestmark = pytest.mark.timeout(30)

# Nested, unusual and unicode values a newer server might add: all must come back as they were.
FOREIGN_FIELDS: dict[str, Any] = {
    "ZZFutureObject": {"Nested": {"Deep": [1, 2.5, None, True, "x"]}, "Empty": {}, "EmptyList": []},
    "ZZFutureString": 'Grüße, 日本語 & <tags> "quotes" \\ backslash',
    "ZZFutureBigInt": 2**53 + 1,
    "ZZFutureFloat": 0.1,
    "ZZFutureNull": None,
}


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


async def test_unknown_fields_survive_update_user_profile(client: CometClient, sim: CometSimulator) -> None:
    sim.state.seed_user("keeper01", profile=copy.deepcopy(FOREIGN_FIELDS))
    sim.state.seed_vault("keeper01", size=123, CometFutureVaultField={"k": [1, 2]})
    sim.state.seed_device("keeper01", FutureDeviceField="kept")
    before = copy.deepcopy(sim.state.users["keeper01"].profile)

    saved = await client.update_user_profile("keeper01", lambda p: p.update(IsSuspended=True))

    after = sim.state.users["keeper01"].profile
    assert after["IsSuspended"] is True
    assert saved.written
    assert saved.profile["IsSuspended"] is True
    assert saved.profile_hash == sim.state.users["keeper01"].profile_hash
    changed = {k for k in set(before) | set(after) if canonical(before.get(k)) != canonical(after.get(k))}
    # Only the key we own changed (and LastSuspended, stamped by the server on 22.12.8+).
    assert changed == {"IsSuspended", "LastSuspended"}
    for key, value in {**EXTRA_PROFILE_FIELDS, **FOREIGN_FIELDS}.items():
        assert canonical(after[key]) == canonical(value), key
    assert type(after["ZZFutureBigInt"]) is int
    assert after["ZZFutureBigInt"] == 2**53 + 1
    assert "Policy" not in after  # the read-only effective copy is not stored back


async def test_a_no_op_mutation_writes_nothing(client: CometClient, sim: CometSimulator) -> None:
    sim.state.seed_user("noop0001")
    old_hash = sim.state.users["noop0001"].profile_hash
    outcome = await client.update_user_profile("noop0001", lambda p: False)
    assert not outcome.written
    assert outcome.profile_hash == old_hash
    assert sim.counters.calls["set-user-profile-hash"] == 0
    assert sim.state.users["noop0001"].profile_hash == old_hash


async def test_forced_hash_conflicts_are_resolved_by_rereading(
    client: CometClient, sim: CometSimulator
) -> None:
    sim.state.seed_user("conflict")
    sim.faults.force_hash_conflicts(2)
    applied: list[int] = []

    def mutate(profile: dict[str, Any]) -> None:
        applied.append(1)
        profile["MaximumDevices"] = 5

    await client.update_user_profile("conflict", mutate)

    counters = sim.counters
    assert len(applied) == 3  # re-applied on every fresh read
    assert counters.calls_for("get-user-profile-and-hash", "conflict") == 3
    assert counters.calls_for("set-user-profile-hash", "conflict") == 3
    assert counters.commits_for("set-user-profile-hash", "conflict") == 1
    assert counters.faults["hash_conflict"] == 2
    assert sim.state.users["conflict"].profile["MaximumDevices"] == 5


async def test_persistent_conflicts_give_up_after_max_attempts(
    client: CometClient, sim: CometSimulator
) -> None:
    sim.state.seed_user("conflict")
    sim.faults.force_hash_conflicts(10)
    with pytest.raises(CometHashConflict) as caught:
        await client.update_user_profile("conflict", lambda p: p.update(MaximumDevices=5), max_attempts=3)
    assert caught.value.api_status == 409
    assert not caught.value.retryable
    assert sim.counters.calls_for("set-user-profile-hash", "conflict") == 3
    assert sim.counters.commits_for("set-user-profile-hash", "conflict") == 0
    assert sim.state.users["conflict"].profile["MaximumDevices"] == 0


async def test_concurrent_updates_of_one_profile_lose_nothing(
    client: CometClient, sim: CometSimulator
) -> None:
    """Twenty writers each set their own key on the same profile: every key must end up saved."""
    sim.state.seed_user("shared01")
    sim.faults.latency_ms = 1

    def setter(i: int) -> Any:
        return lambda p: p.setdefault("ZZWriters", {}).update({str(i): i})

    await asyncio.gather(
        *(client.update_user_profile("shared01", setter(i), max_attempts=50) for i in range(20))
    )

    writers = sim.state.users["shared01"].profile["ZZWriters"]
    assert writers == {str(i): i for i in range(20)}
    assert sim.counters.commits_for("set-user-profile-hash", "shared01") == 20
