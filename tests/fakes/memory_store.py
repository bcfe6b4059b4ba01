"""The core's Store (core/unit_of_work.py) in memory, for fast tests of the reconcile logic without
a database. Same contract as store/: a write unit commits when its block ends and rolls back when
it raises; repositories raise the domain's errors (StaleAccount, UsernameTaken, RequestIdTaken);
writes are serialized. Reads see committed state only.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from comet_provisioning.core.accounts.model import (
    Account,
    AccountFilter,
    Event,
    LimitsState,
    StaleAccount,
    Status,
    UsernameTaken,
)
from comet_provisioning.core.accounts.repository import (
    GroupPlacement,
    LeaseClaim,
    ServerLoad,
    UsageReading,
)
from comet_provisioning.core.clock import utcnow
from comet_provisioning.core.request_records import RequestIdTaken, StoredResponse


@dataclass
class MemoryServer:
    server_id: str
    group_id: str
    max_accounts: int = 0
    placement_order: int = 0
    draining: bool = False


@dataclass
class Tables:
    accounts: dict[str, Account] = field(default_factory=dict)
    leases: dict[str, tuple[str, dt.datetime]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    policies: set[tuple[str, str]] = field(default_factory=set)
    groups: dict[str, GroupPlacement] = field(default_factory=dict)
    servers: dict[str, MemoryServer] = field(default_factory=dict)
    usage_syncs: dict[str, dict[str, object]] = field(default_factory=dict)
    requests: dict[tuple[str, str], tuple[StoredResponse, dt.datetime]] = field(default_factory=dict)
    next_event_id: int = 1


class _Accounts:
    def __init__(self, tables: Tables, writable: bool) -> None:
        self._t = tables
        self._writable = writable

    def _write(self) -> None:
        if not self._writable:
            raise RuntimeError("a read unit was written through")

    def _check_username(self, account: Account) -> None:
        for other in self._t.accounts.values():
            if (
                other.id != account.id
                and account.username
                and other.server_id == account.server_id
                and other.username == account.username
                and other.status is not Status.TERMINATED
                and account.status is not Status.TERMINATED
            ):
                raise UsernameTaken(account.server_id, account.username)

    async def get(self, account_id: str) -> Account | None:
        found = self._t.accounts.get(account_id)
        return copy.deepcopy(found) if found is not None else None

    async def add(self, account: Account, *, lease: LeaseClaim | None = None) -> None:
        self._write()
        if account.id in self._t.accounts:
            raise RuntimeError(f"account {account.id} exists")
        self._check_username(account)
        self._t.accounts[account.id] = copy.deepcopy(account)
        if lease is not None:
            self._t.leases[account.id] = (lease.owner, lease.until)

    async def save(self, account: Account, *, end_lease: bool = False) -> Account:
        self._write()
        stored = self._t.accounts.get(account.id)
        if stored is None or stored.version != account.version:
            raise StaleAccount(account.id)
        self._check_username(account)
        saved = dataclasses.replace(account, version=account.version + 1, update_time=utcnow())
        saved.usage, saved.usage_sync_time = stored.usage, stored.usage_sync_time
        self._t.accounts[account.id] = copy.deepcopy(saved)
        if end_lease:
            self._t.leases.pop(account.id, None)
        return saved

    async def remove_unstarted(self, account_id: str, lease_owner: str) -> bool:
        self._write()
        owner = self._t.leases.get(account_id)
        if owner is None or owner[0] != lease_owner:
            return False
        del self._t.accounts[account_id]
        del self._t.leases[account_id]
        return True

    async def page(
        self, where: AccountFilter, *, after: tuple[dt.datetime, str] | None, limit: int
    ) -> list[Account]:
        found = sorted(
            (
                a
                for a in self._t.accounts.values()
                if (not where.server_id or a.server_id == where.server_id)
                and (not where.product_id or a.product_id == where.product_id)
                and (where.status is None or a.status is where.status)
                and (not where.customer_reference or a.customer.reference == where.customer_reference)
                and (after is None or (a.create_time, a.id) > after)
            ),
            key=lambda a: (a.create_time, a.id),
        )
        return copy.deepcopy(found[:limit])

    async def on_server(self, server_id: str, statuses: Sequence[Status] | None = None) -> list[Account]:
        found = [
            a
            for a in self._t.accounts.values()
            if a.server_id == server_id and (statuses is None or a.status in statuses)
        ]
        return copy.deepcopy(sorted(found, key=lambda a: (a.create_time, a.id)))

    async def due(self, now: dt.datetime, *, limit: int) -> list[str]:
        def free(account_id: str) -> bool:
            lease = self._t.leases.get(account_id)
            return lease is None or lease[1] < now

        found = [
            a
            for a in self._t.accounts.values()
            if (
                (a.status is Status.PENDING and a.provision_requested)
                or (a.status is Status.FAILED and a.limits_state is LimitsState.PENDING)
            )
            and (a.next_attempt_time is None or a.next_attempt_time <= now)
            and free(a.id)
        ]
        found.sort(key=lambda a: a.next_attempt_time or a.create_time)
        return [a.id for a in found[:limit]]

    async def erase_expired_passwords(self, now: dt.datetime) -> int:
        self._write()
        erased = 0
        for account in self._t.accounts.values():
            expire = account.generated_password_expire_time
            if expire is not None and expire < now:
                account.pending_password_enc = None
                account.generated_password_expire_time = None
                account.version += 1
                erased += 1
        return erased

    async def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for account in self._t.accounts.values():
            counts[account.status.value] = counts.get(account.status.value, 0) + 1
        return counts

    async def count_by_limits(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for account in self._t.accounts.values():
            if account.status is not Status.TERMINATED and account.limits_state.value:
                counts[account.limits_state.value] = counts.get(account.limits_state.value, 0) + 1
        return counts

    async def set_usage(self, readings: Sequence[UsageReading]) -> None:
        self._write()
        for reading in readings:
            account = self._t.accounts.get(reading.account_id)
            if account is not None:
                account.usage, account.usage_sync_time = dict(reading.usage), reading.sync_time


class _Events:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, events: Sequence[Event]) -> None:
        for event in events:
            stored = dataclasses.replace(
                event, id=self._t.next_event_id, create_time=event.create_time or utcnow()
            )
            self._t.next_event_id += 1
            self._t.events.append(stored)

    async def page(self, account_id: str, *, before_id: int, limit: int) -> list[Event]:
        found = [
            e for e in self._t.events if e.account_id == account_id and (not before_id or e.id < before_id)
        ]
        return sorted(found, key=lambda e: e.id, reverse=True)[:limit]

    async def prune(self, keep: int) -> int:
        by_account: dict[str, list[Event]] = {}
        for event in self._t.events:
            by_account.setdefault(event.account_id, []).append(event)
        over = {a: sorted(e, key=lambda x: x.id)[:-keep] for a, e in by_account.items() if len(e) > keep}
        dropped = {e.id for events in over.values() for e in events}
        self._t.events = [e for e in self._t.events if e.id not in dropped]
        return len(over)


class _Leases:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def acquire(self, account_id: str, owner: str, ttl: dt.timedelta) -> bool:
        now = utcnow()
        if account_id not in self._t.accounts:
            return False
        held = self._t.leases.get(account_id)
        if held is not None and held[0] != owner and held[1] >= now:
            return False
        self._t.leases[account_id] = (owner, now + ttl)
        return True

    async def release(self, account_id: str, owner: str) -> None:
        held = self._t.leases.get(account_id)
        if held is not None and held[0] == owner:
            del self._t.leases[account_id]

    async def holder(self, account_id: str) -> str | None:
        held = self._t.leases.get(account_id)
        return held[0] if held is not None and held[1] >= utcnow() else None

    async def release_all(self, owner: str) -> int:
        mine = [account_id for account_id, (who, _) in self._t.leases.items() if who == owner]
        for account_id in mine:
            del self._t.leases[account_id]
        return len(mine)


class _Policies:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def known(self, server_id: str, policy_id: str) -> bool:
        return (server_id, policy_id) in self._t.policies

    async def mark(self, server_id: str, policy_id: str, product_id: str) -> None:
        self._t.policies.add((server_id, policy_id))


class _Placement:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def group(self, group_id: str, *, lock: bool) -> GroupPlacement | None:
        return self._t.groups.get(group_id)

    async def server_loads(self, group_id: str) -> list[ServerLoad]:
        def load(server_id: str) -> int:
            return sum(
                1
                for a in self._t.accounts.values()
                if a.server_id == server_id
                and a.status is not Status.TERMINATED
                and (a.add_user.value or a.status in (Status.ACTIVE, Status.SUSPENDED))
            )

        return [
            ServerLoad(s.server_id, s.max_accounts, s.placement_order, s.draining, load(s.server_id))
            for s in self._t.servers.values()
            if s.group_id == group_id
        ]


class _UsageSyncs:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def record(
        self,
        server_id: str,
        *,
        attempt_time: dt.datetime,
        ok: bool,
        error: str = "",
        accounts_updated: int = 0,
        accounts_missing: int = 0,
    ) -> None:
        row = self._t.usage_syncs.setdefault(server_id, {"last_sync_time": None})
        row.update(last_attempt_time=attempt_time, ok=ok, error=error)
        if ok:
            row["last_sync_time"] = attempt_time

    async def last_sync_times(self) -> dict[str, dt.datetime]:
        return {
            sid: when
            for sid, row in self._t.usage_syncs.items()
            if isinstance((when := row["last_sync_time"]), dt.datetime)
        }

    async def server_ids(self) -> list[str]:
        return sorted(self._t.servers)


class _Requests:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def lookup(self, method: str, request_id: str) -> StoredResponse | None:
        found = self._t.requests.get((method, request_id))
        return found[0] if found is not None else None

    async def remember(self, method: str, request_id: str, fingerprint: str, response: bytes) -> None:
        if (method, request_id) in self._t.requests:
            raise RequestIdTaken(request_id)
        self._t.requests[(method, request_id)] = (StoredResponse(fingerprint, response), utcnow())

    async def prune(self, older_than: dt.datetime) -> int:
        old = [key for key, (_, when) in self._t.requests.items() if when < older_than]
        for key in old:
            del self._t.requests[key]
        return len(old)


class MemoryUnitOfWork:
    def __init__(self, tables: Tables, *, writable: bool) -> None:
        self.accounts = _Accounts(tables, writable)
        self.events = _Events(tables)
        self.leases = _Leases(tables)
        self.policies = _Policies(tables)
        self.placement = _Placement(tables)
        self.usage_syncs = _UsageSyncs(tables)
        self.request_records = _Requests(tables)


class MemoryStore:
    def __init__(self) -> None:
        self.tables = Tables()
        self._writer = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[MemoryUnitOfWork]:
        async with self._writer:
            working = copy.deepcopy(self.tables)
            yield MemoryUnitOfWork(working, writable=True)
            self.tables = working  # committed only when the block ended without an error

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[MemoryUnitOfWork]:
        yield MemoryUnitOfWork(copy.deepcopy(self.tables), writable=False)

    def read_one(self) -> contextlib.AbstractAsyncContextManager[MemoryUnitOfWork]:
        return self.read()
