"""The `account_events` table: each account's log of steps (ListAccountEvents), and its retention."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.core.accounts.model import Event

from .prepared import PreparedWrite
from .schema_accounts import account_events
from .types import utcnow

__all__ = ["SqlEventLog"]


_INSERT_EVENTS = PreparedWrite(insert(account_events))


async def add_events(conn: AsyncConnection, events: Sequence[Event]) -> None:
    if not events:
        return
    now = utcnow()
    await _INSERT_EVENTS.execute(
        conn,
        [
            {
                "account_id": e.account_id,
                "operation": e.operation,
                "step": e.step,
                "comet_endpoint": e.comet_endpoint,
                "outcome": e.outcome,
                "duration_ms": e.duration_ms,
                "error": e.error,
                "request_id": e.request_id,
                "create_time": e.create_time or now,
            }
            for e in events
        ],
    )


async def list_events(conn: AsyncConnection, account_id: str, *, before_id: int, limit: int) -> list[Event]:
    query = select(account_events).where(account_events.c.account_id == account_id)
    if before_id:
        query = query.where(account_events.c.id < before_id)
    query = query.order_by(account_events.c.id.desc()).limit(limit)
    return [
        Event(
            id=row.id,
            account_id=row.account_id,
            operation=row.operation,
            step=row.step,
            comet_endpoint=row.comet_endpoint,
            outcome=row.outcome,
            duration_ms=row.duration_ms,
            error=row.error,
            request_id=row.request_id,
            create_time=row.create_time,
        )
        for row in await conn.execute(query)
    ]


async def prune_events(conn: AsyncConnection, account_id: str, keep: int) -> None:
    """Retention: keep the newest `keep` events of an account."""
    cutoff = (
        select(account_events.c.id)
        .where(account_events.c.account_id == account_id)
        .order_by(account_events.c.id.desc())
        .offset(keep)
        .limit(1)
        .scalar_subquery()
    )
    await conn.execute(
        delete(account_events).where(
            and_(account_events.c.account_id == account_id, account_events.c.id <= cutoff)
        )
    )


async def prune_all_events(conn: AsyncConnection, keep: int) -> int:
    """Retention over every account: each keeps its newest `keep` events. Returns the accounts
    that were over the limit."""
    over = (
        select(account_events.c.account_id).group_by(account_events.c.account_id).having(func.count() > keep)
    )
    account_ids = [row.account_id for row in await conn.execute(over)]
    for account_id in account_ids:
        await prune_events(conn, account_id, keep)
    return len(account_ids)


class SqlEventLog:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, events: Sequence[Event]) -> None:
        await add_events(self._conn, events)

    async def page(self, account_id: str, *, before_id: int, limit: int) -> list[Event]:
        return await list_events(self._conn, account_id, before_id=before_id, limit=limit)

    async def prune(self, keep: int) -> int:
        return await prune_all_events(self._conn, keep)
