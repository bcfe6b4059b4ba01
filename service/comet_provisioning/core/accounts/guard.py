"""Per-account order: one operation at a time on an account, in this process and across replicas.

In-process, an asyncio lock per key (dropped when nobody holds or waits for it). Across replicas, a
lease row in the store (owner and expiry), taken when the lock is held; a process that crashed
loses its leases when they expire, which is also what lets the start-up sweep resume its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass

from comet_provisioning.core.errors import ErrorKind, ServiceError

log = logging.getLogger("comet_provisioning.accounts")


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


@dataclass
class Lease:
    released: bool = False


LeaseAcquire = Callable[[str, dt.timedelta], Awaitable[bool]]
LeaseRelease = Callable[[str], Awaitable[None]]


class AccountGuard:
    """`async with guard.hold(account_id):` serializes work on one account everywhere."""

    def __init__(
        self, acquire: LeaseAcquire, release: LeaseRelease, ttl: dt.timedelta, wait_s: float = 30.0
    ) -> None:
        self._locks = KeyedLocks()
        self._acquire = acquire
        self._release = release
        self._ttl = ttl
        self._wait_s = wait_s

    @contextlib.asynccontextmanager
    async def hold(self, account_id: str, *, leased: bool = False) -> AsyncIterator[Lease]:
        """`leased`: the caller writes the lease row itself (a new account's insert carries it).
        Set `released` on the yielded Lease when a write already cleared it, to save a write.

        If the lease is lost meanwhile (renewals failed for a whole TTL, so another replica may
        have taken the account), the work is cancelled and ABORTED ACCOUNT_LEASE_LOST raised."""
        lease = Lease()
        async with self._locks.hold(account_id):
            if not leased:
                await self._take_lease(account_id)
            holder = asyncio.current_task()
            assert holder is not None
            lost = asyncio.Event()
            renewer = asyncio.create_task(self._renew(account_id, holder, lost), name=f"lease-{account_id}")
            try:
                yield lease
            except asyncio.CancelledError:
                if not lost.is_set():
                    raise
                holder.uncancel()
                raise ServiceError(
                    ErrorKind.ABORTED,
                    "ACCOUNT_LEASE_LOST",
                    "this replica lost its claim on the account while working on it; retry",
                    metadata={"account_id": account_id},
                ) from None
            finally:
                renewer.cancel()
                if not lease.released and not lost.is_set():
                    # Released even if the caller was cancelled: otherwise others wait out the TTL.
                    await asyncio.shield(self._release(account_id))

    async def _renew(self, account_id: str, holder: asyncio.Task[object], lost: asyncio.Event) -> None:
        """Keeps the lease alive while slow work runs, so the TTL can stay short for crashes. A
        failed renewal is retried; when none succeeded for a whole TTL, or another replica holds
        the lease, the holder is cancelled rather than let work on an account it no longer owns."""
        loop = asyncio.get_running_loop()
        ttl = self._ttl.total_seconds()
        renewed_at = loop.time()
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                kept = await self._acquire(account_id, self._ttl)
            except Exception:
                log.warning("could not renew an account lease; trying again", exc_info=True)
                if loop.time() - renewed_at < ttl:
                    continue
                kept = False
            if kept:
                renewed_at = loop.time()
                continue
            log.error("lost the lease on an account; stopping its work", extra={"account_id": account_id})
            lost.set()
            holder.cancel()
            return

    async def _take_lease(self, account_id: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        delay = 0.02
        while not await self._acquire(account_id, self._ttl):
            if loop.time() >= deadline:
                raise ServiceError(
                    ErrorKind.ABORTED,
                    "ACCOUNT_BUSY",
                    "another replica is working on this account; retry",
                    metadata={"account_id": account_id},
                )
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)
