"""Event log retention: each account keeps its newest N events (setting `event_retention`).

Events are written by every operation in the same transaction as the state they describe; pruning
them there would put a delete on every lifecycle write, so a sweep trims the logs instead: at
start-up and then periodically. Between sweeps a busy account may briefly hold a few more.
"""

from __future__ import annotations

import asyncio
import logging

from comet_provisioning.core.unit_of_work import Store

__all__ = ["prune_events", "prune_events_forever"]

log = logging.getLogger("comet_provisioning.accounts")

SWEEP_INTERVAL_S = 300.0


async def prune_events(store: Store, keep: int) -> int:
    """Trims every account's log to `keep` events; returns how many accounts were trimmed."""
    async with store.write() as uow:
        return await uow.events.prune(keep)


async def prune_events_forever(store: Store, keep: int, interval_s: float = SWEEP_INTERVAL_S) -> None:
    while True:
        try:
            trimmed = await prune_events(store, keep)
            if trimmed:
                log.info("event logs trimmed", extra={"accounts": trimmed, "keep": keep})
        except Exception:
            log.exception("the event retention sweep failed; trying again later")
        await asyncio.sleep(interval_s)
