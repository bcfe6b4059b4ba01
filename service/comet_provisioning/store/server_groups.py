"""The `server_groups` table: a group's row in and out (with its servers' ids), and what still
depends on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, delete, func, select, update

from comet_provisioning.core.models import ServerGroup

from .live_accounts import count_live
from .named_rows import NamedRows
from .schema import accounts, products, server_groups, servers

__all__ = ["SqlServerGroups"]

_IN_GROUP_ORDER = (servers.c.placement_order, servers.c.display_name, servers.c.id)


class SqlServerGroups(NamedRows[ServerGroup]):
    table = server_groups
    name = "name"
    query = select(server_groups)
    order = (server_groups.c.name, server_groups.c.id)

    __slots__ = ()

    def _record(self, row: Row[Any]) -> ServerGroup:
        return ServerGroup(**row._mapping)

    async def _records(self, rows: Sequence[Row[Any]]) -> list[ServerGroup]:
        """With the ids of their servers, in placement order."""
        groups = [self._record(row) for row in rows]
        if not groups:
            return groups
        by_id = {g.id: g for g in groups}
        members = await self._conn.execute(
            select(servers.c.id, servers.c.server_group_id)
            .where(servers.c.server_group_id.in_(list(by_id)))
            .order_by(*_IN_GROUP_ORDER)
        )
        for server_id, group_id in members:
            by_id[group_id].server_ids.append(server_id)
        return groups

    async def page(self, *, offset: int, limit: int) -> list[ServerGroup]:
        return await self._page(offset=offset, limit=limit)

    async def products_using(self, group_id: str) -> int:
        query = select(func.count()).select_from(products).where(products.c.server_group_id == group_id)
        return int((await self._conn.execute(query)).scalar_one())

    async def live_accounts(self, group_id: str) -> int:
        return await count_live(
            self._conn,
            servers.c.server_group_id == group_id,
            joined=accounts.join(servers, accounts.c.server_id == servers.c.id),
        )

    async def remove(self, group_id: str) -> None:
        await self._conn.execute(
            update(servers).where(servers.c.server_group_id == group_id).values(server_group_id=None)
        )
        await self._conn.execute(delete(server_groups).where(server_groups.c.id == group_id))
