"""Foreign Comet users: there before the run, and no account of the service points at them (a
customer who signed up with the Comet server directly, another tool's users). Whatever an order asks
for, the service must never adopt, change or delete one of them: an order whose name is taken gets
another (the original module's `_NNNN` suffix).

- `--foreign-fraction F` (simulators, with --simulator-admin): before the run, a Comet user is
  seeded through the simulator's control API under F of the usernames the run will order: made a
  day earlier, with a vault and limits of its own.
- With --verify, every foreign user is compared before and after the run: its profile (from
  list-users-full, any server), and on simulators its ProfileHash and the calls aimed at it (their
  per-user counters). A call that changes a user (anything but a read) counts against the service,
  except add-user, which is how a taken name is found (it changes nothing when refused).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from comet_provisioning.comet.endpoints import READ_ONLY_ENDPOINTS

from .simcontrol import SimControl

DAY_S = 86_400
# What the seeded user holds, so that a write of the product's limits over it would show.
FOREIGN_PROFILE = {
    "AccountName": "Customer of the Comet server itself",
    "MaximumDevices": 7,
    "AllProtectedItemsQuotaEnabled": True,
    "AllProtectedItemsQuotaBytes": 123 * 1024**3,
}
FOREIGN_VAULT_BYTES = 5 * 1024**3
MAX_PROBLEMS_SHOWN = 20
# add-user aimed at a taken name is refused by Comet and changes nothing.
_DISCOVERY_CALLS = frozenset({"add-user"})


def foreign_seed(name: str) -> dict[str, Any]:
    """One pre-existing user for the simulator's `/__sim__/seed` (its CreateTime a day back)."""
    return {
        "username": name,
        "password": secrets.token_urlsafe(12),
        "profile": {**FOREIGN_PROFILE, "CreateTime": int(time.time()) - DAY_S},
    }


async def seed_foreign_users(control: SimControl, names: list[str]) -> int:
    """Seeds `names` on every simulator; returns how many users were made."""
    made = 0
    for server_id in sorted(control.urls):
        vaults = [
            {"username": name, "size": FOREIGN_VAULT_BYTES, "storage_limit_bytes": 2 * FOREIGN_VAULT_BYTES}
            for name in names
        ]
        await control.seed(server_id, {"users": [foreign_seed(name) for name in names], "vaults": vaults})
        made += len(names)
    return made


def write_calls(counters: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """user -> {endpoint: calls} for the calls that may change a user, from a simulator's counters."""
    found: dict[str, dict[str, int]] = {}
    for endpoint, per_user in (counters.get("calls_by_target") or {}).items():
        if endpoint in READ_ONLY_ENDPOINTS or endpoint in _DISCOVERY_CALLS:
            continue
        for user, calls in per_user.items():
            found.setdefault(user, {})[endpoint] = int(calls)
    return found


@dataclass
class ForeignBaseline:
    """Each server's foreign users as they were before the run."""

    profiles: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # server -> user -> profile
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)  # simulators: server -> user -> hash
    writes: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # simulators
    seeded: int = 0

    def count(self) -> int:
        return sum(len(users) for users in self.profiles.values())


@dataclass
class ForeignCheck:
    seeded: int = 0
    checked: int = 0
    modified: int = 0  # users whose profile, hash or write calls changed, or that are gone
    write_calls: int = 0  # calls that may change a user, aimed at a foreign one
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS_SHOWN:
            self.problems.append(text)


async def foreign_baseline(
    profiles: Mapping[str, Mapping[str, Any]],
    tracked: Mapping[str, set[str]],
    control: SimControl | None,
    seeded: int = 0,
) -> ForeignBaseline:
    """`profiles`: server -> user -> profile before the run; `tracked`: server -> the usernames of the
    service's accounts then (not foreign: the service may change its own users)."""
    baseline = ForeignBaseline(seeded=seeded)
    for server_id, users in profiles.items():
        names = set(users) - tracked.get(server_id, set())
        baseline.profiles[server_id] = {name: dict(users[name]) for name in names}
        if control is not None and server_id in control.urls:
            hashes = await control.profile_hashes(server_id)
            baseline.hashes[server_id] = {name: hashes.get(name, "") for name in names}
            writes = write_calls(await control.counters(server_id))
            baseline.writes[server_id] = {name: writes.get(name, {}) for name in names}
    return baseline


async def check_foreign(
    baseline: ForeignBaseline,
    profiles: Mapping[str, Mapping[str, Any]],
    control: SimControl | None,
) -> ForeignCheck:
    """Compares every foreign user with the baseline (`profiles`: server -> user -> profile now)."""
    report = ForeignCheck(seeded=baseline.seeded)
    for server_id, before in sorted(baseline.profiles.items()):
        now = profiles.get(server_id, {})
        hashes: dict[str, str] = {}
        writes: dict[str, dict[str, int]] = {}
        if server_id in baseline.hashes and control is not None:
            hashes = await control.profile_hashes(server_id)
            writes = write_calls(await control.counters(server_id))
        for name in sorted(before):
            report.checked += 1
            changes = _changes(before[name], now.get(name))
            if server_id in baseline.hashes:
                if hashes.get(name) != baseline.hashes[server_id].get(name):
                    changes.append("ProfileHash changed")
                new_calls = _new_calls(baseline.writes[server_id].get(name, {}), writes.get(name, {}))
                report.write_calls += sum(new_calls.values())
                changes += [f"{endpoint} called {n} times" for endpoint, n in sorted(new_calls.items())]
            if changes:
                report.modified += 1
                report.problem(f"foreign Comet user {name!r} on {server_id}: " + "; ".join(changes))
    return report


def _changes(before: Mapping[str, Any], after: Mapping[str, Any] | None) -> list[str]:
    if after is None:
        return ["deleted"]
    keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return [f"{key} changed" for key in keys]


def _new_calls(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {ep: n - before.get(ep, 0) for ep, n in after.items() if n > before.get(ep, 0)}


def tracked_usernames(accounts: Iterable[Any]) -> dict[str, set[str]]:
    """server -> usernames of the accounts that are not TERMINATED (accounts_pb2.Account)."""
    from comet_provisioning_client.v1 import accounts_pb2

    found: dict[str, set[str]] = {}
    for account in accounts:
        if account.username and account.status != accounts_pb2.ACCOUNT_STATUS_TERMINATED:
            found.setdefault(account.server_id, set()).add(account.username)
    return found
