"""Rows of the usage sync: each server's last sync (see schema_usage.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import servers
from .schema_usage import usage_syncs

__all__ = ["SqlUsageSyncs", "last_sync_times", "record_sync"]


async def record_sync(
    conn: AsyncConnection,
    server_id: str,
    *,
    when: dt.datetime,
    ok: bool,
    error: str = "",
    updated: int = 0,
    missing: int = 0,
) -> None:
    """Upsert the outcome of one sync; a failed attempt keeps the last successful sync time."""
    values: dict[str, object] = {
        "last_attempt_time": when,
        "last_ok": ok,
        "last_error": error[:2000],
        "accounts_updated": updated,
        "accounts_missing": missing,
    }
    if ok:
        values["last_sync_time"] = when
    result = await conn.execute(
        update(usage_syncs).where(usage_syncs.c.server_id == server_id).values(**values)
    )
    if result.rowcount == 0:
        values.setdefault("last_sync_time", None)
        await conn.execute(insert(usage_syncs).values(server_id=server_id, **values))


async def last_sync_times(conn: AsyncConnection) -> dict[str, dt.datetime]:
    """Server id -> when its usage was last read successfully (servers never synced are absent)."""
    query = select(usage_syncs.c.server_id, usage_syncs.c.last_sync_time).where(
        usage_syncs.c.last_sync_time.is_not(None)
    )
    return {row.server_id: row.last_sync_time for row in await conn.execute(query)}


class SqlUsageSyncs:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

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
        await record_sync(
            self._conn,
            server_id,
            when=attempt_time,
            ok=ok,
            error=error,
            updated=accounts_updated,
            missing=accounts_missing,
        )

    async def last_sync_times(self) -> dict[str, dt.datetime]:
        return await last_sync_times(self._conn)

    async def server_ids(self) -> list[str]:
        return [row.id for row in await self._conn.execute(select(servers.c.id).order_by(servers.c.id))]
