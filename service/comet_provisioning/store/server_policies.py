"""The `server_policies` table: the policy groups this service created on each server."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema_accounts import server_policies
from .types import utcnow

__all__ = ["SqlPolicyMarks"]


async def policy_known(conn: AsyncConnection, server_id: str, policy_id: str) -> bool:
    row = (
        await conn.execute(
            select(server_policies.c.policy_id).where(
                server_policies.c.server_id == server_id, server_policies.c.policy_id == policy_id
            )
        )
    ).first()
    return row is not None


async def mark_policy(conn: AsyncConnection, server_id: str, policy_id: str, product_id: str) -> None:
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(server_policies).values(
                    server_id=server_id, policy_id=policy_id, product_id=product_id, create_time=utcnow()
                )
            )
    except IntegrityError:
        pass  # another replica recorded it first: same fact


class SqlPolicyMarks:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def known(self, server_id: str, policy_id: str) -> bool:
        return await policy_known(self._conn, server_id, policy_id)

    async def mark(self, server_id: str, policy_id: str, product_id: str) -> None:
        await mark_policy(self._conn, server_id, policy_id, product_id)
