"""What the accounts core needs from persistence: one small interface per table it works with.

Implemented by `store/` (SQLAlchemy) and, for tests of the reconcile logic, in memory. Each method
is one question or one change; the unit of work (`core/unit_of_work.py`) decides the transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .model import Account, AccountFilter, Event, Status

__all__ = [
    "AccountRepository",
    "EventLog",
    "GroupPlacement",
    "LeaseClaim",
    "LeaseStore",
    "PlacementReads",
    "PolicyMarks",
    "ServerLoad",
    "UsageReading",
    "UsageSyncRecords",
]


@dataclass(frozen=True)
class LeaseClaim:
    """A replica's claim on an account until a time (written with a new account's row)."""

    owner: str
    until: dt.datetime


@dataclass(frozen=True)
class UsageReading:
    account_id: str
    usage: dict[str, Any]
    sync_time: dt.datetime


class AccountRepository(Protocol):
    async def get(self, account_id: str) -> Account | None: ...

    async def add(self, account: Account, *, lease: LeaseClaim | None = None) -> None:
        """UsernameTaken when its username is held by another live account on its server."""
        ...

    async def save(self, account: Account, *, end_lease: bool = False) -> Account:
        """Writes `account` if the stored row still has its version; returns it with the version
        bumped. StaleAccount when another writer got there first; UsernameTaken as for add.
        `end_lease`: the account's lease ends in the same write."""
        ...

    async def remove_unstarted(self, account_id: str, lease_owner: str) -> bool:
        """Deletes an order this replica placed but never sent to Comet (its lease still held)."""
        ...

    async def page(
        self, where: AccountFilter, *, after: tuple[dt.datetime, str] | None, limit: int
    ) -> list[Account]:
        """Oldest first; `after` is the (create_time, id) of the last account of the previous page."""
        ...

    async def on_server(self, server_id: str, statuses: Sequence[Status] | None = None) -> list[Account]:
        """Every account placed on the server (optionally only in `statuses`), oldest first."""
        ...

    async def due(self, now: dt.datetime, *, limit: int) -> list[str]:
        """Accounts the background sweep should run now and no replica holds: provisioning asked
        for and unfinished whose next attempt is due; FAILED ones whose limits are not confirmed."""
        ...

    async def erase_expired_passwords(self, now: dt.datetime) -> int: ...

    async def count_by_status(self) -> dict[str, int]: ...

    async def count_by_limits(self) -> dict[str, int]: ...

    async def set_usage(self, readings: Sequence[UsageReading]) -> None:
        """Usage is a reading, not account state: it never makes a lifecycle save stale."""
        ...


class EventLog(Protocol):
    async def add(self, events: Sequence[Event]) -> None: ...

    async def page(self, account_id: str, *, before_id: int, limit: int) -> list[Event]:
        """Newest first, ids below `before_id` (0: from the newest)."""
        ...

    async def prune(self, keep: int) -> int:
        """Each account keeps its newest `keep` events; returns the accounts that had more."""
        ...


class LeaseStore(Protocol):
    async def acquire(self, account_id: str, owner: str, ttl: dt.timedelta) -> bool:
        """Takes or renews the lease unless another owner holds an unexpired one."""
        ...

    async def release(self, account_id: str, owner: str) -> None: ...

    async def release_all(self, owner: str) -> int: ...

    async def holder(self, account_id: str) -> str | None:
        """Who holds an unexpired lease on the account (None: nobody, or no such account yet)."""
        ...


class PolicyMarks(Protocol):
    """Which auto-created policy groups this service made on which server."""

    async def known(self, server_id: str, policy_id: str) -> bool: ...

    async def mark(self, server_id: str, policy_id: str, product_id: str) -> None:
        """Idempotent: a mark another replica wrote first is the same fact."""
        ...


@dataclass(frozen=True)
class GroupPlacement:
    rule: str  # "LEAST_ACCOUNTS" | "FILL_IN_ORDER"
    failover: bool


@dataclass(frozen=True)
class ServerLoad:
    server_id: str
    max_accounts: int
    placement_order: int
    draining: bool
    accounts: int  # those taking a place on it (not terminated; a Comet user exists or may)


class PlacementReads(Protocol):
    async def group(self, group_id: str, *, lock: bool) -> GroupPlacement | None:
        """`lock`: placements in the group are serialized until the transaction ends."""
        ...

    async def server_loads(self, group_id: str) -> list[ServerLoad]: ...


class UsageSyncRecords(Protocol):
    async def record(
        self,
        server_id: str,
        *,
        attempt_time: dt.datetime,
        ok: bool,
        error: str = "",
        accounts_updated: int = 0,
        accounts_missing: int = 0,
    ) -> None: ...

    async def last_sync_times(self) -> dict[str, dt.datetime]: ...

    async def server_ids(self) -> list[str]: ...
