"""What the tables of servers, server groups and products share: a record per row under a unique
name, read with its computed columns, written whole, and the storage errors a write can meet
turned into the domain's (NameTaken, UnknownServerGroup)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import ColumnElement, Row, Select, Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.core.server_repository import NameTaken, UnknownServerGroup

from .integrity import Broken, broken_rule

__all__ = ["NamedRows"]

R = TypeVar("R")


class NamedRows(Generic[R]):
    table: ClassVar[Table]
    name: ClassVar[str]  # the unique column, and the record's attribute of the same name
    query: ClassVar[Select[Any]]  # the record's columns, with what is computed for it
    order: ClassVar[tuple[ColumnElement[Any], ...]]

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    def _record(self, row: Row[Any]) -> R:
        raise NotImplementedError

    async def _records(self, rows: Sequence[Row[Any]]) -> list[R]:
        return [self._record(row) for row in rows]

    def _values(self, record: R) -> dict[str, Any]:
        return {c.name: getattr(record, c.name) for c in self.table.c}

    async def get(self, record_id: str, *, lock: bool = False) -> R | None:
        """`lock` holds the row to the end of the transaction (PostgreSQL; SQLite's writer lock
        already serializes)."""
        key = self.table.c.id
        if lock:
            await self._conn.execute(select(key).where(key == record_id).with_for_update())
        found = await self._records(list(await self._conn.execute(self.query.where(key == record_id))))
        return found[0] if found else None

    async def _page(self, *where: ColumnElement[bool], offset: int = 0, limit: int | None = None) -> list[R]:
        query = self.query.where(*where).order_by(*self.order).offset(offset).limit(limit)
        return await self._records(list(await self._conn.execute(query)))

    async def name_taken(self, name: str, *, other_than: str = "") -> bool:
        key = self.table.c.id
        query = select(key).where(self.table.c[self.name] == name, key != other_than).limit(1)
        return (await self._conn.execute(query)).first() is not None

    async def add(self, record: R) -> None:
        await self._write(insert(self.table).values(self._values(record)), record)

    async def replace(self, record: R) -> None:
        """Every stored field but the id and the creation time."""
        values = self._values(record)
        record_id = values.pop("id")
        del values["create_time"]
        await self._write(update(self.table).where(self.table.c.id == record_id).values(values), record)

    async def _write(self, statement: Any, record: R) -> None:
        try:
            await self._conn.execute(statement)
        except IntegrityError as exc:
            rule = broken_rule(exc)
            if rule is Broken.UNIQUE:
                raise NameTaken(getattr(record, self.name)) from exc
            group_id = getattr(record, "server_group_id", None)
            if rule is Broken.FOREIGN_KEY and group_id:
                raise UnknownServerGroup(group_id) from exc
            raise
