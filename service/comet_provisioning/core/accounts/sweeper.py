"""The background sweep: at start-up and then every few seconds, the work no caller is waiting for.

- provisioning asked for and unfinished (a crash, a replica that died, a transient failure whose
  retry is due) continues from what the journal and Comet say is done;
- a FAILED account whose Comet user's limits are not confirmed gets them, or is suspended;
- generated passwords past their retention are erased.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from comet_provisioning.core.clock import Clock, SystemClock
from comet_provisioning.core.errors import ServiceError
from comet_provisioning.core.unit_of_work import Store

from .commands import AccountCommands
from .leases import AccountGuard
from .model import Account, LimitsState, Status
from .queries import AccountQueries

__all__ = ["Sweeper", "due"]

log = logging.getLogger("comet_provisioning.accounts")


def due(account: Account, now: dt.datetime) -> bool:
    """Whether the sweep should run the account now (AccountRepository.due is the same rule)."""
    if account.next_attempt_time is not None and account.next_attempt_time > now:
        return False
    if account.status is Status.PENDING:
        return account.provision_requested
    return account.status is Status.FAILED and account.limits_state is LimitsState.PENDING


class Sweeper:
    def __init__(
        self,
        store: Store,
        queries: AccountQueries,
        commands: AccountCommands,
        guard: AccountGuard,
        *,
        batch: int = 500,
        concurrency: int = 8,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._queries = queries
        self._commands = commands
        self._guard = guard
        self._batch = batch
        self._concurrency = concurrency
        self._clock = clock or SystemClock()

    async def sweep(self) -> int:
        """One round; returns how many accounts it ran."""
        now = self._clock.now()
        async with self._store.write() as uow:
            await uow.accounts.erase_expired_passwords(now)
        async with self._store.read() as uow:
            found = await uow.accounts.due(now, limit=self._batch)
        gate = asyncio.Semaphore(self._concurrency)

        async def run(account_id: str) -> bool:
            async with gate:
                try:
                    async with self._guard.hold(account_id) as held:
                        account = await self._queries.load(account_id)
                        if not due(account, self._clock.now()):
                            return False
                        if account.status is Status.FAILED:
                            await self._commands.contain(held)
                        else:
                            await self._commands.provision(held, "", operation="resume", caller=False)
                        return True
                except ServiceError as err:
                    log.warning(
                        "resuming an account failed", extra={"account_id": account_id, "reason": err.reason}
                    )
                    return False

        ran = sum(await asyncio.gather(*(run(account_id) for account_id in found)))
        if found:
            log.info("resumed unfinished provisioning", extra={"found": len(found), "resumed": ran})
        return ran

    async def run_forever(self, interval_s: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("the resume sweep failed; trying again later")
            await self._clock.sleep(interval_s)
