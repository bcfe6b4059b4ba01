"""Servers and server groups: rows in, records out. Callers own the transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .accounts import load_column
from .records import ServerGroupRecord, ServerRecord
from .schema import products, server_groups, servers

__all__ = [
    "delete_group",
    "delete_server",
    "get_group",
    "get_server",
    "group_name_taken",
    "insert_group",
    "insert_server",
    "list_groups",
    "list_servers",
    "products_using_group",
    "record_version",
    "server_name_taken",
    "ungroup_servers",
    "update_group",
    "update_server",
]

_SERVER_COLUMNS = [c for c in servers.c]
_SERVER_ORDER = (
    func.coalesce(servers.c.server_group_id, ""),
    servers.c.placement_order,
    servers.c.display_name,
    servers.c.id,
)
_IN_GROUP_ORDER = (servers.c.placement_order, servers.c.display_name, servers.c.id)


def _server_values(record: ServerRecord) -> dict[str, Any]:
    return {c.name: getattr(record, c.name) for c in servers.c}


def _server(row: Row[Any]) -> ServerRecord:
    data = dict(row._mapping)
    return ServerRecord(**data)


def _server_query() -> Any:
    return select(*_SERVER_COLUMNS, load_column(servers.c.id).label("account_count"))


async def insert_server(conn: AsyncConnection, record: ServerRecord) -> None:
    await conn.execute(insert(servers).values(_server_values(record)))


async def update_server(conn: AsyncConnection, record: ServerRecord) -> None:
    values = _server_values(record)
    del values["id"], values["create_time"]
    await conn.execute(update(servers).where(servers.c.id == record.id).values(values))


async def delete_server(conn: AsyncConnection, server_id: str) -> bool:
    result = await conn.execute(delete(servers).where(servers.c.id == server_id))
    return bool(result.rowcount)


async def get_server(
    conn: AsyncConnection, server_id: str, *, for_update: bool = False
) -> ServerRecord | None:
    query = _server_query().where(servers.c.id == server_id)
    if for_update:
        # Lock the server row itself (PostgreSQL); SQLite's writer lock already serializes.
        await conn.execute(select(servers.c.id).where(servers.c.id == server_id).with_for_update())
    row = (await conn.execute(query)).first()
    return _server(row) if row is not None else None


async def list_servers(
    conn: AsyncConnection, *, group_id: str | None, offset: int, limit: int
) -> list[ServerRecord]:
    query = _server_query()
    if group_id is not None:
        query = query.where(servers.c.server_group_id == group_id)
    query = query.order_by(*_SERVER_ORDER).offset(offset).limit(limit)
    return [_server(row) for row in await conn.execute(query)]


async def record_version(conn: AsyncConnection, server_id: str, version: str, when: dt.datetime) -> None:
    """What the server said it runs (meta/version), without touching anything else of the row."""
    await conn.execute(
        update(servers)
        .where(servers.c.id == server_id)
        .values(comet_version=version, comet_version_time=when)
    )


async def server_name_taken(conn: AsyncConnection, name: str, *, exclude_id: str | None = None) -> bool:
    query = select(servers.c.id).where(servers.c.display_name == name)
    if exclude_id is not None:
        query = query.where(servers.c.id != exclude_id)
    return (await conn.execute(query.limit(1))).first() is not None


async def ungroup_servers(conn: AsyncConnection, group_id: str) -> None:
    await conn.execute(
        update(servers).where(servers.c.server_group_id == group_id).values(server_group_id=None)
    )


# -- groups ---------------------------------------------------------------------------------------

_GROUP_ORDER = (server_groups.c.name, server_groups.c.id)


def _group_values(record: ServerGroupRecord) -> dict[str, Any]:
    return {c.name: getattr(record, c.name) for c in server_groups.c}


async def _with_members(conn: AsyncConnection, rows: list[Row[Any]]) -> list[ServerGroupRecord]:
    groups = [ServerGroupRecord(**dict(row._mapping)) for row in rows]
    if not groups:
        return groups
    by_id = {g.id: g for g in groups}
    members = await conn.execute(
        select(servers.c.id, servers.c.server_group_id)
        .where(servers.c.server_group_id.in_(list(by_id)))
        .order_by(*_IN_GROUP_ORDER)
    )
    for server_id, group_id in members:
        by_id[group_id].server_ids.append(server_id)
    return groups


async def insert_group(conn: AsyncConnection, record: ServerGroupRecord) -> None:
    await conn.execute(insert(server_groups).values(_group_values(record)))


async def update_group(conn: AsyncConnection, record: ServerGroupRecord) -> None:
    values = _group_values(record)
    del values["id"], values["create_time"]
    await conn.execute(update(server_groups).where(server_groups.c.id == record.id).values(values))


async def delete_group(conn: AsyncConnection, group_id: str) -> bool:
    result = await conn.execute(delete(server_groups).where(server_groups.c.id == group_id))
    return bool(result.rowcount)


async def get_group(
    conn: AsyncConnection, group_id: str, *, for_update: bool = False
) -> ServerGroupRecord | None:
    query = select(server_groups).where(server_groups.c.id == group_id)
    if for_update:
        query = query.with_for_update()
    rows = list(await conn.execute(query))
    found = await _with_members(conn, rows)
    return found[0] if found else None


async def list_groups(conn: AsyncConnection, *, offset: int, limit: int) -> list[ServerGroupRecord]:
    query = select(server_groups).order_by(*_GROUP_ORDER).offset(offset).limit(limit)
    return await _with_members(conn, list(await conn.execute(query)))


async def group_name_taken(conn: AsyncConnection, name: str, *, exclude_id: str | None = None) -> bool:
    query = select(server_groups.c.id).where(server_groups.c.name == name)
    if exclude_id is not None:
        query = query.where(server_groups.c.id != exclude_id)
    return (await conn.execute(query.limit(1))).first() is not None


async def products_using_group(conn: AsyncConnection, group_id: str) -> int:
    query = select(func.count()).select_from(products).where(products.c.server_group_id == group_id)
    return int((await conn.execute(query)).scalar_one())
