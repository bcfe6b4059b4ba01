"""The `servers` table: a server's row in and out, its Comet version, and its live accounts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, delete, func, select, update

from comet_provisioning.core.models import Server

from .live_accounts import count_live, forget_in_terminated, load_column
from .named_rows import NamedRows
from .schema import accounts, servers

__all__ = ["SqlServers"]


class SqlServers(NamedRows[Server]):
    table = servers
    name = "display_name"
    query = select(*servers.c, load_column(servers.c.id).label("account_count"))
    # By group, then in placement order.
    order = (
        func.coalesce(servers.c.server_group_id, ""),
        servers.c.placement_order,
        servers.c.display_name,
        servers.c.id,
    )

    __slots__ = ()

    def _record(self, row: Row[Any]) -> Server:
        return Server(**row._mapping)

    async def page(self, *, group_id: str | None, offset: int, limit: int) -> list[Server]:
        where = () if group_id is None else (servers.c.server_group_id == group_id,)
        return await self._page(*where, offset=offset, limit=limit)

    async def record_version(self, server_id: str, version: str, when: dt.datetime) -> None:
        await self._conn.execute(
            update(servers)
            .where(servers.c.id == server_id)
            .values(comet_version=version, comet_version_time=when)
        )

    async def live_accounts(self, server_id: str) -> int:
        return await count_live(self._conn, accounts.c.server_id == server_id)

    async def remove(self, server_id: str) -> None:
        await forget_in_terminated(self._conn, accounts.c.server_id, server_id)
        await self._conn.execute(delete(servers).where(servers.c.id == server_id))
