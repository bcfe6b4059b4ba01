"""The usage sync: per server, one `list-users-full` call, and every tracked account's usage stored.

- One call per server, however many accounts it holds (not one call per account).
- One sync at a time per server in this process (a lock); across replicas the background loop skips
  a server whose last successful sync (the `usage_syncs` row) is younger than the interval.
- Drift: a vault without a limit on an account whose product sets a vault quota is taken to be a
  vault added on Comet after the quota was applied, and always gets the quota; any other difference
  between the profile and the product (devices, protected-items quota, vault limits, policy) is
  reported in the usage (`drift_detected`) and repaired through the hash-checked profile update
  only when `repair_drift` is set. So is a suspension that differs from the account's status
  (`IsSuspended` changed on Comet by hand): reported as `IsSuspended`, and with `repair_drift` set
  back to what the billing side decided. Repairs run under the account guard, so they never
  interleave with a lifecycle operation on the same account.
- A Comet outage fails that server's sync (recorded, logged); the loop retries it with a backoff
  and catches up on the next successful round.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from comet_provisioning.comet import CometError, ProfileAndHash
from comet_provisioning.comet.models import UpdatedProfile
from comet_provisioning.core.clock import Clock, SystemClock
from comet_provisioning.core.comet_errors import to_service_error
from comet_provisioning.core.errors import ServiceError
from comet_provisioning.core.keyed_locks import KeyedLocks
from comet_provisioning.core.models import Product
from comet_provisioning.core.unit_of_work import Store

from .desired import desired_profile
from .journal import Journal
from .leases import HeldAccount
from .model import Account, Status
from .ports import CometClients
from .product_cache import RecentProducts
from .profile import DesiredProfile, apply_quotas, drift, set_suspended, vault_ids
from .repository import UsageReading
from .usage import compute_usage

__all__ = ["ServerSyncResult", "UsageSync", "suspension_drift", "vaults_without_quota"]

log = logging.getLogger("comet_provisioning.usage")

TRACKED = (Status.ACTIVE, Status.SUSPENDED)
LIST_TIMEOUT_S = 120.0
REPAIR_TIMEOUT_S = 60.0
REPAIR_CONCURRENCY = 8
RETRY_FIRST_S = 15.0

# Runs `work` alone on an account (Exclusive.run without a request id).
Exclusive = Callable[[str, Callable[[HeldAccount], Awaitable[bytes]]], Awaitable[bytes]]
SyncObserver = Callable[[str, dt.datetime], None]


@dataclass
class ServerSyncResult:
    server_id: str
    ok: bool
    sync_time: dt.datetime
    accounts_updated: int = 0
    accounts_missing: int = 0
    accounts_repaired: int = 0
    missing_account_ids: list[str] = field(default_factory=list)
    drifted_account_ids: list[str] = field(default_factory=list)
    error: str = ""


def suspension_drift(account: Account, profile: dict[str, Any]) -> bool:
    """Comet's IsSuspended disagrees with the account's status (changed on Comet by hand)."""
    return (profile.get("IsSuspended") is True) != (account.status is Status.SUSPENDED)


def vaults_without_quota(profile: dict[str, Any], desired: DesiredProfile | None) -> list[str]:
    """Vaults with no limit although the product sets a vault quota: added after the quota."""
    if desired is None or not desired.vault_quota_bytes:
        return []
    return vault_ids(profile, lambda vault: vault.get("StorageLimitEnabled") is not True)


def _limit_vaults(vault_ids: Sequence[str], quota: int) -> Callable[[dict[str, Any]], bool]:
    def mutate(profile: dict[str, Any]) -> bool:
        changed = False
        for vault_id in vault_ids:
            vault = (profile.get("Destinations") or {}).get(vault_id)
            if isinstance(vault, dict) and vault.get("StorageLimitEnabled") is not True:
                vault["StorageLimitEnabled"] = True
                vault["StorageLimitBytes"] = quota
                changed = True
        return changed

    return mutate


class UsageSync:
    def __init__(
        self,
        store: Store,
        clients: CometClients,
        products: RecentProducts,
        exclusive: Exclusive,
        *,
        repair_drift: bool = False,
        repair_quotas: Callable[[Account, Product, Journal], Awaitable[UpdatedProfile]] | None = None,
        list_timeout_s: float = LIST_TIMEOUT_S,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._clock = clock or SystemClock()
        self._clients = clients
        self._products = products
        self._exclusive = exclusive
        self.repair_drift = repair_drift
        self._repair_quotas = repair_quotas
        self._list_timeout_s = list_timeout_s
        self._locks = KeyedLocks()
        self._failures: dict[str, int] = {}
        self._next_try: dict[str, float] = {}
        self.observers: list[SyncObserver] = []

    # -- queries ----------------------------------------------------------------------------------

    async def last_sync_times(self) -> dict[str, dt.datetime]:
        """Server id -> when its usage was last read successfully (never-synced servers absent)."""
        async with self._store.read() as uow:
            return await uow.usage_syncs.last_sync_times()

    async def server_ids(self) -> list[str]:
        async with self._store.read() as uow:
            return await uow.usage_syncs.server_ids()

    # -- syncing ----------------------------------------------------------------------------------

    async def sync(self, server_id: str = "") -> list[ServerSyncResult]:
        """One server (NOT_FOUND if unknown) or, with "", every server concurrently."""
        if server_id:
            await self._clients.client(server_id)  # NOT_FOUND before anything else
            return [await self.sync_server(server_id)]
        ids = await self.server_ids()
        return list(await asyncio.gather(*(self.sync_server(sid) for sid in ids)))

    async def sync_server(self, server_id: str) -> ServerSyncResult:
        async with self._locks.hold(server_id):
            result = await self._sync(server_id)
        if result.ok:
            self._failures.pop(server_id, None)
            for observe in self.observers:
                observe(server_id, result.sync_time)
        else:
            self._failures[server_id] = self._failures.get(server_id, 0) + 1
        return result

    async def _sync(self, server_id: str) -> ServerSyncResult:
        started = self._clock.now()
        try:
            client = await self._clients.client(server_id)
            async with self._store.read() as uow:
                tracked = await uow.accounts.on_server(server_id, TRACKED)
            users = await client.list_users_full(timeout_s=self._list_timeout_s)
        except (CometError, ServiceError) as err:
            message = err.message
            log.warning("usage sync failed", extra={"server_id": server_id, "error": message[:300]})
            result = ServerSyncResult(server_id, ok=False, sync_time=started, error=message)
            await self._record(result)
            return result
        now = self._clock.now()
        result = ServerSyncResult(server_id, ok=True, sync_time=now)
        products: dict[str, Product | None] = {}
        gate = asyncio.Semaphore(REPAIR_CONCURRENCY)

        async def read(account: Account) -> UsageReading | None:
            profile = users.get(account.username)
            if not isinstance(profile, dict):
                result.missing_account_ids.append(account.id)
                return None
            product = await self._product(account.product_id, products)
            desired = desired_profile(product, account.options) if product is not None else None
            unlimited = vaults_without_quota(profile, desired)
            drifted = (
                [key for key in drift(profile, desired) if key != "Destinations" or not unlimited]
                if (desired is not None)
                else []
            )
            suspension = suspension_drift(account, profile)
            repair = unlimited or ((drifted or suspension) and self.repair_drift)
            if product is not None and desired is not None and repair:
                async with gate:
                    repaired = await self._repair(
                        account, product, desired, unlimited, bool(drifted), suspension
                    )
                if repaired is not None:
                    profile = repaired
                    result.accounts_repaired += 1
            usage = compute_usage(profile, desired)
            if suspension_drift(account, profile):
                usage["drift"].append("IsSuspended")
                usage["drift_detected"] = True
            if usage["drift_detected"]:
                result.drifted_account_ids.append(account.id)
            return UsageReading(account.id, usage, now)

        readings = [r for r in await asyncio.gather(*(read(a) for a in tracked)) if r is not None]
        async with self._store.write() as uow:
            await uow.accounts.set_usage(readings)
        result.accounts_updated = len(readings)
        result.accounts_missing = len(result.missing_account_ids)
        result.missing_account_ids.sort()
        result.drifted_account_ids.sort()
        await self._record(result)
        if result.missing_account_ids or result.drifted_account_ids:
            log.warning(
                "usage sync found accounts out of step with Comet",
                extra={
                    "server_id": server_id,
                    "missing": result.accounts_missing,
                    "drifted": len(result.drifted_account_ids),
                },
            )
        return result

    async def _product(self, product_id: str, cache: dict[str, Product | None]) -> Product | None:
        if product_id not in cache:
            cache[product_id] = await self._products.fresh_or_none(product_id)
        return cache[product_id]

    async def _record(self, result: ServerSyncResult) -> None:
        try:
            async with self._store.write() as uow:
                await uow.usage_syncs.record(
                    result.server_id,
                    attempt_time=result.sync_time,
                    ok=result.ok,
                    error=result.error,
                    accounts_updated=result.accounts_updated,
                    accounts_missing=result.accounts_missing,
                )
        except Exception:  # the server may have been deleted meanwhile (foreign key)
            log.warning("could not record a usage sync", extra={"server_id": result.server_id})

    async def _repair(
        self,
        account: Account,
        product: Product,
        desired: DesiredProfile,
        unlimited: list[str],
        drifted: bool,
        suspension: bool,
    ) -> dict[str, Any] | None:
        """Writes the fix under the account guard; the saved profile, or None if nothing was done."""
        saved: list[dict[str, Any]] = []
        full = drifted and self.repair_drift

        async def work(held: HeldAccount) -> bytes:
            async with self._store.read_one() as uow:
                current = await uow.accounts.get(held.account_id)
            if current is None or current.status not in TRACKED or current.product_id != account.product_id:
                return b""  # changed meanwhile: the next sync looks again
            journal = Journal(account.id, "usage_sync")
            client = await self._clients.client(current.server_id)
            # The profile and hash the previous write returned (Comet 25.6.8+): the next write
            # of this repair starts from them instead of reading the profile again.
            last: ProfileAndHash | None = None

            def remember(updated: UpdatedProfile) -> None:
                nonlocal last
                saved.append(updated.profile)
                last = ProfileAndHash(updated.profile, updated.profile_hash) if updated.profile_hash else None

            try:
                if full and self._repair_quotas is not None:
                    remember(await self._repair_quotas(current, product, journal))
                elif full or unlimited:
                    mutate = (
                        (lambda profile: apply_quotas(profile, desired))
                        if full
                        else _limit_vaults(unlimited, desired.vault_quota_bytes or 0)
                    )
                    step = "repair_drift" if full else "limit_new_vaults"
                    with journal.step(step, "set-user-profile-hash") as outcome:
                        if not full:
                            outcome.note = f"vaults {', '.join(unlimited)}"[:500]
                        remember(await client.update_user_profile(current.username, mutate))
                if suspension and self.repair_drift:
                    # The status read under the guard, not the one the sync started with.
                    wanted = current.status is Status.SUSPENDED
                    with journal.step("repair_suspension", "set-user-profile-hash") as outcome:
                        outcome.note = "suspended" if wanted else "not suspended"
                        remember(
                            await client.update_user_profile(
                                current.username, lambda profile: set_suspended(profile, wanted), current=last
                            )
                        )
            finally:
                async with self._store.write() as uow:
                    await uow.events.add(journal.take())
            return b""

        try:
            await asyncio.wait_for(self._exclusive(account.id, work), REPAIR_TIMEOUT_S)
        except CometError as err:
            log.warning(
                "drift repair failed",
                extra={"account_id": account.id, "reason": to_service_error(err, account.server_id).reason},
            )
            return None
        except (ServiceError, TimeoutError) as err:
            reason = err.reason if isinstance(err, ServiceError) else "TIMEOUT"
            log.warning("drift repair failed", extra={"account_id": account.id, "reason": reason})
            return None
        return saved[-1] if saved else None

    # -- the background loop ----------------------------------------------------------------------

    async def run_forever(self, interval_s: float, *, tick_s: float | None = None) -> None:
        """Syncs each server once per `interval_s` (jittered); a failed server is retried sooner,
        with a backoff (15 s, 30 s, ... up to the interval). Never raises (cancel to stop)."""
        tick = tick_s if tick_s is not None else max(0.5, min(interval_s / 4, 30.0))
        await asyncio.sleep(random.uniform(0, min(tick, 5.0)))  # replicas starting together spread out
        while True:
            try:
                await self._round(interval_s)
            except Exception:
                log.exception("the usage sync round failed; trying again later")
            await asyncio.sleep(tick * random.uniform(0.8, 1.2))

    async def _round(self, interval_s: float) -> None:
        loop = asyncio.get_running_loop()
        last = await self.last_sync_times()
        now = self._clock.now()
        due = []
        for server_id in await self.server_ids():
            if loop.time() < self._next_try.get(server_id, 0.0):
                continue
            synced = last.get(server_id)
            # Jitter the interval a little per round so servers (and replicas) drift apart.
            if synced is not None and (now - synced).total_seconds() < interval_s * random.uniform(0.9, 1.0):
                continue
            due.append(server_id)

        async def one(server_id: str) -> None:
            result = await self.sync_server(server_id)
            if result.ok:
                self._next_try.pop(server_id, None)
            else:
                failures = self._failures.get(server_id, 1)
                backoff = min(interval_s, RETRY_FIRST_S * 2 ** min(failures - 1, 10))
                self._next_try[server_id] = loop.time() + backoff

        await asyncio.gather(*(one(server_id) for server_id in due))
