"""Event log retention: each account keeps its newest N events (setting `event_retention`).

Events are written by every operation in the same transaction as the state they describe; pruning
them there would put a delete on every lifecycle write, so a sweep trims the logs instead: at
start-up and then periodically. Between sweeps a busy account may briefly hold a few more.
"""

from __future__ import annotations

import asyncio
import logging

from comet_provisioning.store import account_rows as rows
from comet_provisioning.store.database import Database

__all__ = ["prune_events", "prune_events_forever"]

log = logging.getLogger("comet_provisioning.accounts")

SWEEP_INTERVAL_S = 300.0


async def prune_events(db: Database, keep: int) -> int:
    """Trims every account's log to `keep` events; returns how many accounts were trimmed."""
    async with db.transaction() as conn:
        return await rows.prune_all_events(conn, keep)


async def prune_events_forever(db: Database, keep: int, interval_s: float = SWEEP_INTERVAL_S) -> None:
    while True:
        try:
            trimmed = await prune_events(db, keep)
            if trimmed:
                log.info("event logs trimmed", extra={"accounts": trimmed, "keep": keep})
        except Exception:
            log.exception("the event retention sweep failed; trying again later")
        await asyncio.sleep(interval_s)
