"""What placement reads: a group's rule, and the load of each of its servers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.core.accounts.repository import GroupPlacement, ServerLoad

from .live_accounts import load_column
from .prepared import PreparedSelect
from .schema import server_groups, servers

__all__ = ["SqlPlacementReads"]


_SERVER_FIELDS = (servers.c.id, servers.c.max_accounts, servers.c.placement_order, servers.c.draining)


_SERVER_COUNTS = PreparedSelect(
    select(*_SERVER_FIELDS, load_column(servers.c.id).label("live")).where(
        servers.c.server_group_id == bindparam("group_id")
    )
)


_GROUP_SERVERS = PreparedSelect(
    select(*_SERVER_FIELDS).where(servers.c.server_group_id == bindparam("group_id"))
)


async def live_server_counts(conn: AsyncConnection, group_id: str) -> list[tuple[Mapping[Any, Any], int]]:
    """(server row, accounts taking a place on it) for every server of a group: the placement input.

    Counting scans the group's accounts, so it is skipped when no choice depends on it: one
    server without a maximum (the count is then reported as 0).
    """
    found = await _GROUP_SERVERS.all(conn, {"group_id": group_id})
    if len(found) == 1 and not found[0]["max_accounts"]:
        return [(found[0], 0)]
    return [(row, int(row["live"])) for row in await _SERVER_COUNTS.all(conn, {"group_id": group_id})]


_GROUP_PLACEMENT = select(server_groups.c.placement_rule, server_groups.c.failover).where(
    server_groups.c.id == bindparam("group_id")
)


_GROUP_PLACEMENT_READ = PreparedSelect(_GROUP_PLACEMENT)


# FOR UPDATE serializes placements in a group across replicas on PostgreSQL (SQLite has one writer).
_GROUP_PLACEMENT_LOCKED = PreparedSelect(_GROUP_PLACEMENT.with_for_update())


async def group_placement(conn: AsyncConnection, group_id: str, *, lock: bool) -> Mapping[Any, Any] | None:
    """The group's placement rule and failover flag; `lock` holds the group row to the end of the
    transaction."""
    prepared = _GROUP_PLACEMENT_LOCKED if lock else _GROUP_PLACEMENT_READ
    return await prepared.first(conn, {"group_id": group_id})


class SqlPlacementReads:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def group(self, group_id: str, *, lock: bool) -> GroupPlacement | None:
        row = await group_placement(self._conn, group_id, lock=lock)
        if row is None:
            return None
        return GroupPlacement(rule=row["placement_rule"], failover=bool(row["failover"]))

    async def server_loads(self, group_id: str) -> list[ServerLoad]:
        return [
            ServerLoad(
                server_id=row["id"],
                max_accounts=row["max_accounts"],
                placement_order=row["placement_order"],
                draining=bool(row["draining"]),
                accounts=live,
            )
            for row, live in await live_server_counts(self._conn, group_id)
        ]
