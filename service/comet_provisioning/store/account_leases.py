"""The lease columns of `accounts`: which replica works on an account, until when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import accounts
from .types import utcnow

__all__ = ["SqlLeases"]


async def acquire_lease(conn: AsyncConnection, account_id: str, owner: str, ttl: dt.timedelta) -> bool:
    now = utcnow()
    result = await conn.execute(
        update(accounts)
        .where(
            accounts.c.id == account_id,
            or_(
                accounts.c.lease_owner.is_(None),
                accounts.c.lease_owner == owner,
                accounts.c.lease_until < now,
            ),
        )
        .values(lease_owner=owner, lease_until=now + ttl)
    )
    return result.rowcount == 1


async def release_leases_of(conn: AsyncConnection, owner: str) -> int:
    result = await conn.execute(
        update(accounts).where(accounts.c.lease_owner == owner).values(lease_owner=None, lease_until=None)
    )
    return int(result.rowcount or 0)


async def release_lease(conn: AsyncConnection, account_id: str, owner: str) -> None:
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id, accounts.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


class SqlLeases:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def acquire(self, account_id: str, owner: str, ttl: dt.timedelta) -> bool:
        return await acquire_lease(self._conn, account_id, owner, ttl)

    async def release(self, account_id: str, owner: str) -> None:
        await release_lease(self._conn, account_id, owner)

    async def release_all(self, owner: str) -> int:
        return await release_leases_of(self._conn, owner)

    async def holder(self, account_id: str) -> str | None:
        row = (
            await self._conn.execute(
                select(accounts.c.lease_owner).where(
                    accounts.c.id == account_id, accounts.c.lease_until >= utcnow()
                )
            )
        ).first()
        return None if row is None else row.lease_owner
