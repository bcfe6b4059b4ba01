"""One operation at a time on an account, in this process and across replicas: the one owner of
an account lease's whole life (taken, renewed, lost, ended).

In-process, an asyncio lock per account. Across replicas, a lease in the store (owner and expiry),
taken once the lock is held and renewed while the work runs; a process that crashed loses its
leases when they expire (or at once when it restarts under the same replica id), which is what lets
the background sweep resume its work.

Work that must run alone takes a `HeldAccount` as its first argument: only `AccountGuard.hold`
makes one, so "call this under the guard" is checked by the type checker, not only by a name.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections.abc import AsyncIterator

from comet_provisioning.core.clock import Clock, SystemClock
from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning.core.keyed_locks import KeyedLocks
from comet_provisioning.core.unit_of_work import Store

from .repository import LeaseClaim

__all__ = ["AccountGuard", "HeldAccount"]

log = logging.getLogger("comet_provisioning.accounts")


class HeldAccount:
    """Proof that the holder works on the account alone, until the `hold` block ends."""

    __slots__ = ("_lease_ended", "account_id")

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._lease_ended = False

    def lease_ended_by_write(self) -> None:
        """The holder's last account write (committed) also ended the lease: one write fewer
        than ending it on its own when the block exits."""
        self._lease_ended = True


class AccountGuard:
    def __init__(
        self, store: Store, owner: str, ttl: dt.timedelta, *, wait_s: float = 30.0, clock: Clock | None = None
    ) -> None:
        self._store = store
        self._clock = clock or SystemClock()
        self.owner = owner
        self._ttl = ttl
        self._wait_s = wait_s
        self._locks = KeyedLocks()

    def claim(self) -> LeaseClaim:
        """The lease a new account's row is written with (`hold(..., claimed=True)` then)."""
        return LeaseClaim(self.owner, self._clock.now() + self._ttl)

    async def take_back_own(self) -> int:
        """At start-up: leases held under this replica id are a previous run's (this run has
        started nothing yet), so its unfinished work can resume at once."""
        async with self._store.write() as uow:
            released = await uow.leases.release_all(self.owner)
        if released:
            log.info("took back this replica's leases", extra={"accounts": released})
        return released

    @contextlib.asynccontextmanager
    async def hold(self, account_id: str, *, claimed: bool = False) -> AsyncIterator[HeldAccount]:
        """Holds the account alone. `claimed`: the caller wrote the lease with the account's new row.

        If the lease is lost meanwhile (renewals failed for a whole TTL, so another replica may
        have taken the account), the work is cancelled and ABORTED ACCOUNT_LEASE_LOST raised."""
        async with self._locks.hold(account_id):
            if not claimed:
                await self._take(account_id)
            held = HeldAccount(account_id)
            holder = asyncio.current_task()
            assert holder is not None
            lost = asyncio.Event()
            renewer = asyncio.create_task(self._renew(account_id, holder, lost), name=f"lease-{account_id}")
            try:
                yield held
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
                if not held._lease_ended and not lost.is_set():
                    # Ended even if the caller was cancelled: otherwise others wait out the TTL.
                    await asyncio.shield(self._release(account_id))

    async def _acquire(self, account_id: str) -> bool:
        async with self._store.write() as uow:
            return await uow.leases.acquire(account_id, self.owner, self._ttl)

    async def _still_ours(self, account_id: str) -> bool:
        """A renewal that changed nothing is a loss only if another replica holds the lease: a new
        order's row may not be written yet (its insert carries this replica's claim)."""
        try:
            async with self._store.read_one() as uow:
                holder = await uow.leases.holder(account_id)
        except Exception:
            return True  # cannot tell: the next renewal decides
        return holder in (None, self.owner)

    async def _release(self, account_id: str) -> None:
        async with self._store.write() as uow:
            await uow.leases.release(account_id, self.owner)

    async def _take(self, account_id: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_s
        delay = 0.02
        while not await self._acquire(account_id):
            if loop.time() >= deadline:
                raise ServiceError(
                    ErrorKind.ABORTED,
                    "ACCOUNT_BUSY",
                    "another replica is working on this account; retry",
                    metadata={"account_id": account_id},
                )
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

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
                kept = await self._acquire(account_id)
            except Exception:
                log.warning("could not renew an account lease; trying again", exc_info=True)
                if loop.time() - renewed_at < ttl:
                    continue
                kept = False
            if kept or await self._still_ours(account_id):
                renewed_at = loop.time()
                continue
            log.error("lost the lease on an account; stopping its work", extra={"account_id": account_id})
            lost.set()
            holder.cancel()
            return
