"""What counts of accounts servers, groups and products ask: which accounts are live, and which
take a place on a server, as SQL fragments; and letting a deleted server or product go."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import accounts
from .types import utcnow

__all__ = ["LIVE", "TAKES_PLACE", "count_live", "forget_in_terminated", "live_count_column", "load_column"]

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


async def count_live(conn: AsyncConnection, *where: ColumnElement[bool], joined: Any = accounts) -> int:
    """Live accounts matching `where` (over `joined`: the accounts table, or a join of it)."""
    query = select(func.count()).select_from(joined).where(LIVE, *where)
    return int((await conn.execute(query)).scalar_one())


async def forget_in_terminated(conn: AsyncConnection, fk: Any, value: str) -> None:
    """Terminated accounts whose `fk` (accounts.server_id or product_id) is `value` forget it, so
    the server or product they name can be deleted."""
    await conn.execute(
        update(accounts)
        .where(fk == value, accounts.c.status == TERMINATED)
        .values({fk.name: None, "update_time": utcnow()})
    )
