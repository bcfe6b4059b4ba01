"""Statements prepared once, run without SQLAlchemy's per-call machinery on inline SQLite.

For a cached compiled statement SQLAlchemy Core still builds an execution context, a cursor
wrapper and a result per call: about 25 µs, where the sqlite3 call takes 8. On the read hot path
(an account by id, an order by request id) and the create path (the account's insert and final
save, its journal events) that is a sizeable part of an RPC. `PreparedSelect` and `PreparedWrite`
compile their statement once per dialect, run it on the DBAPI connection underneath an inline
SQLite connection, and apply the result or bind processors SQLAlchemy itself would use for each
column (datetimes, JSON, booleans), so rows go in and come out the same. On any other connection
(PostgreSQL) they are plain `conn.execute`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import InlineConnection

__all__ = ["PreparedSelect", "PreparedWrite"]


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


@dataclass(frozen=True, slots=True)
class _CompiledWrite:
    sql: str
    params: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]


class PreparedWrite:
    """An INSERT or UPDATE prepared once per dialect and set of parameter names.

    `execute(conn, rows)` runs it for one or many parameter dicts (all with the same keys) and
    returns the rows affected. On inline SQLite it goes through the DBAPI cursor with the bind
    processors SQLAlchemy would apply (datetimes, JSON, booleans) and raises SQLAlchemy's
    IntegrityError, as `conn.execute` would; elsewhere it is `conn.execute`.
    """

    def __init__(self, statement: Insert | Update) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _CompiledWrite] = {}

    def _compile(self, dialect: Dialect, keys: Iterable[str]) -> _CompiledWrite:
        cache_key = (dialect.name, frozenset(keys))
        compiled = self._compiled.get(cache_key)
        if compiled is None:
            # Column values become the VALUES / SET clause; other keys feed the WHERE's bindparams.
            columns = [key for key in sorted(cache_key[1]) if key in self.statement.table.c]
            done = self.statement.compile(dialect=dialect, column_keys=columns)
            names = tuple(done.positiontup or ())
            compiled = _CompiledWrite(
                sql=str(done),
                params=names,
                processors=tuple(
                    done.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
                ),
            )
            self._compiled[cache_key] = compiled
        return compiled

    async def execute(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> int:
        if not rows:
            return 0
        if not isinstance(conn, InlineConnection):
            params = [dict(row) for row in rows]
            result = await conn.execute(self.statement, params[0] if len(params) == 1 else params)
            return int(result.rowcount)
        sync = conn.sync_connection
        compiled = self._compile(sync.dialect, rows[0].keys())
        values = [
            [
                process(row[name]) if process is not None else row[name]
                for name, process in zip(compiled.params, compiled.processors, strict=True)
            ]
            for row in rows
        ]
        dbapi = sync.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            if len(values) == 1:
                cursor.execute(compiled.sql, values[0])
            else:
                cursor.executemany(compiled.sql, values)
            return int(cursor.rowcount)
        except sync.dialect.loaded_dbapi.IntegrityError as exc:
            raise IntegrityError(compiled.sql, values, exc) from exc
        finally:
            cursor.close()
