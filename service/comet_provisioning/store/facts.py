"""The service's facts about its own store (`service_facts`): the secret key's check value, the
sealed fingerprint key, what the store is for (the service or the demo).

Start-up checks read and write them under `lock_facts`, so replicas starting together on one
PostgreSQL decide once; on SQLite the write transaction is already exclusive (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from sqlalchemy import exists, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import Database
from .schema import accounts, products, server_groups, servers, service_facts
from .types import utcnow

__all__ = ["claim_purpose", "get_facts", "lock_facts", "put_fact"]

PURPOSE_FACT = "store_purpose"

_PG_LOCK_KEY = 0x636F6D6574 + 1  # next to the migrations' lock ("comet")


async def lock_facts(conn: AsyncConnection) -> None:
    """Held until the transaction ends."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


async def get_facts(conn: AsyncConnection) -> dict[str, str]:
    rows = await conn.execute(select(service_facts.c.name, service_facts.c.value))
    return {str(name): str(value) for name, value in rows.all()}


async def put_fact(conn: AsyncConnection, name: str, value: str) -> None:
    """Sets a fact (call under `lock_facts`: update, else insert)."""
    now = utcnow()
    updated = await conn.execute(
        service_facts.update().where(service_facts.c.name == name).values(value=value, update_time=now)
    )
    if not updated.rowcount:
        await conn.execute(service_facts.insert().values(name=name, value=value, update_time=now))


async def _holds_state(conn: AsyncConnection) -> bool:
    for table in (server_groups, servers, products, accounts):
        if (await conn.execute(select(exists().select_from(table)))).scalar():
            return True
    return False


async def claim_purpose(db: Database, purpose: str) -> str:
    """Marks the store as the `purpose`'s ("service" or "demo") if it is not marked yet; returns the
    other purpose if the store already serves it ("" when it is this one's). An unmarked store with
    state in it is the service's: the demo never writes without marking first."""
    async with db.transaction() as conn:
        await lock_facts(conn)
        marked = (await get_facts(conn)).get(PURPOSE_FACT)
        if marked is None:
            marked = "service" if await _holds_state(conn) else purpose
            if marked == purpose:
                await put_fact(conn, PURPOSE_FACT, purpose)
        return "" if marked == purpose else marked
