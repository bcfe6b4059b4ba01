"""A single-row SELECT prepared once, run without SQLAlchemy's per-call machinery on inline SQLite.

For a cached compiled statement SQLAlchemy Core still builds an execution context, a cursor
wrapper and a result per call: about 25 µs, where the sqlite3 call takes 8. On the read hot path
(an account by id, an order by request id) that is a sizeable part of an RPC. `PreparedSelect`
compiles its statement once per dialect, runs it on the DBAPI connection underneath an inline
SQLite connection, and applies the result processors SQLAlchemy itself would use for each column
(datetimes, JSON, booleans), so rows come out the same. On any other connection (PostgreSQL) it is
plain `conn.execute`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import InlineConnection

__all__ = ["PreparedSelect"]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    params: tuple[str, ...]  # bind names in positional order
    columns: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]


class PreparedSelect:
    """`first(conn, params)`: the first row as a column-name mapping, or None."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            done = self.statement.compile(dialect=dialect)
            columns = self.statement.selected_columns
            compiled = _Compiled(
                sql=str(done),
                params=tuple(done.positiontup or ()),
                columns=tuple(column.name for column in columns),
                processors=tuple(
                    column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
                ),
            )
            self._compiled[dialect.name] = compiled
        return compiled

    async def first(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if not isinstance(conn, InlineConnection):
            row = (await conn.execute(self.statement, dict(params))).first()
            return row._mapping if row is not None else None
        sync = conn.sync_connection
        compiled = self._compile(sync.dialect)
        cursor = sync.connection.driver_connection.cursor()
        try:
            raw = cursor.execute(compiled.sql, [params[name] for name in compiled.params]).fetchone()
        finally:
            cursor.close()
        if raw is None:
            return None
        return {
            name: process(value) if process is not None else value
            for name, process, value in zip(compiled.columns, compiled.processors, raw, strict=True)
        }
