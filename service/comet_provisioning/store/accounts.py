"""What servers, groups and products need to know about accounts: how many are live.

Issue 5 owns the accounts themselves; these queries only count and detach.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import accounts, servers
from .types import utcnow

__all__ = [
    "LIVE",
    "TAKES_PLACE",
    "detach_terminated",
    "live_count",
    "live_count_column",
    "live_count_in_group",
    "load_column",
]

TERMINATED = "TERMINATED"
LIVE = accounts.c.status != TERMINATED
# What a server's load is made of (placement, account_count): live accounts whose Comet user exists
# or may (add-user sent or about to be). An order whose add-user provably never went out (it failed
# or is waiting to retry before that) holds its reserved name but takes no place.
TAKES_PLACE = and_(
    LIVE,
    or_(accounts.c.add_user_state != "", accounts.c.status == "ACTIVE", accounts.c.status == "SUSPENDED"),
)


def live_count_column(fk: ColumnElement[Any], outer_id: ColumnElement[Any]) -> ScalarSelect[int]:
    """A correlated subquery: live accounts whose `fk` (e.g. accounts.product_id) is `outer_id`."""
    return select(func.count()).select_from(accounts).where(fk == outer_id, LIVE).scalar_subquery()


def load_column(server_id: ColumnElement[Any]) -> ScalarSelect[int]:
    """A correlated subquery: the accounts taking a place on the server `server_id`."""
    return (
        select(func.count())
        .select_from(accounts)
        .where(accounts.c.server_id == server_id, TAKES_PLACE)
        .scalar_subquery()
    )


async def live_count(
    conn: AsyncConnection, *, server_id: str | None = None, product_id: str | None = None
) -> int:
    query = select(func.count()).select_from(accounts).where(LIVE)
    if server_id is not None:
        query = query.where(accounts.c.server_id == server_id)
    if product_id is not None:
        query = query.where(accounts.c.product_id == product_id)
    return int((await conn.execute(query)).scalar_one())


async def live_count_in_group(conn: AsyncConnection, group_id: str) -> int:
    query = (
        select(func.count())
        .select_from(accounts.join(servers, accounts.c.server_id == servers.c.id))
        .where(LIVE, servers.c.server_group_id == group_id)
    )
    return int((await conn.execute(query)).scalar_one())


async def detach_terminated(
    conn: AsyncConnection, *, server_id: str | None = None, product_id: str | None = None
) -> None:
    """Let a server or product with only TERMINATED accounts be deleted: those rows forget it."""
    if server_id is not None:
        await conn.execute(
            update(accounts)
            .where(accounts.c.server_id == server_id, accounts.c.status == TERMINATED)
            .values(server_id=None, update_time=utcnow())
        )
    if product_id is not None:
        await conn.execute(
            update(accounts)
            .where(accounts.c.product_id == product_id, accounts.c.status == TERMINATED)
            .values(product_id=None, update_time=utcnow())
        )
