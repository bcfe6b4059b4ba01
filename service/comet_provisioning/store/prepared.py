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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Select, Update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .database import InlineConnection

__all__ = ["PreparedSelect", "PreparedWrite"]


Processor = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Binds:
    """The positional parameters of a compiled statement: names, bind processors, and the values
    of literal binds (`status != 'TERMINATED'`), which the caller does not pass."""

    names: tuple[str, ...]
    processors: tuple[Processor, ...]
    literals: Mapping[str, Any]

    @classmethod
    def of(cls, compiled: Any, dialect: Dialect) -> _Binds:
        names = tuple(compiled.positiontup or ())
        binds = [compiled.binds[name] for name in names]
        return cls(
            names=names,
            processors=tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds),
            literals={name: bind.value for name, bind in zip(names, binds, strict=True) if not bind.required},
        )

    def values(self, params: Mapping[str, Any]) -> list[Any]:
        out = []
        for name, process in zip(self.names, self.processors, strict=True):
            value = params[name] if name in params else self.literals[name]
            out.append(process(value) if process is not None else value)
        return out


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    binds: _Binds
    # A SELECT's result columns, and the processor of each column that has one (empty for a write).
    columns: tuple[str, ...] = ()
    processors: tuple[tuple[str, Callable[[Any], Any]], ...] = ()


@contextmanager
def _cursor(conn: InlineConnection) -> Iterator[Any]:
    """A DBAPI cursor on the connection underneath (inside its transaction, if one is open)."""
    dbapi = conn.sync_connection.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


class PreparedSelect:
    """`first(conn, params)`: the first row as a column-name mapping, or None; `all`: every row."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            done = self.statement.compile(dialect=dialect)
            columns = self.statement.selected_columns
            processors = (
                (column.name, column.type.dialect_impl(dialect).result_processor(dialect, None))
                for column in columns
            )
            compiled = _Compiled(
                sql=str(done),
                binds=_Binds.of(done, dialect),
                columns=tuple(column.name for column in columns),
                processors=tuple((name, process) for name, process in processors if process is not None),
            )
            self._compiled[dialect.name] = compiled
        return compiled

    async def first(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        found = await self._rows(conn, params, one=True)
        return found[0] if found else None

    async def all(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        return await self._rows(conn, params, one=False)

    async def _rows(
        self, conn: AsyncConnection, params: Mapping[str, Any], *, one: bool
    ) -> list[Mapping[str, Any]]:
        if not isinstance(conn, InlineConnection):
            result = await conn.execute(self.statement, dict(params))
            if one:
                row = result.first()
                return [row._mapping] if row is not None else []
            return [row._mapping for row in result]
        compiled = self._compile(conn.sync_connection.dialect)
        with _cursor(conn) as cursor:
            cursor.execute(compiled.sql, compiled.binds.values(params))
            raws = [cursor.fetchone()] if one else cursor.fetchall()
        rows = []
        for raw in raws:
            if raw is None:
                continue
            # Most columns are text as stored: zip them in one C-level pass, then convert the few
            # that have a processor (datetimes, JSON, booleans).
            row = dict(zip(compiled.columns, raw, strict=True))
            for name, process in compiled.processors:
                row[name] = process(row[name])
            rows.append(row)
        return rows


class PreparedWrite:
    """An INSERT or UPDATE prepared once per dialect and set of parameter names.

    `execute(conn, rows)` runs it for one or many parameter dicts (all with the same keys) and
    returns the rows affected. On inline SQLite it goes through the DBAPI cursor with the bind
    processors SQLAlchemy would apply (datetimes, JSON, booleans) and raises SQLAlchemy's
    IntegrityError, as `conn.execute` would; elsewhere it is `conn.execute`.
    """

    def __init__(self, statement: Insert | Update) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}

    def _compile(self, dialect: Dialect, keys: Iterable[str]) -> _Compiled:
        cache_key = (dialect.name, frozenset(keys))
        compiled = self._compiled.get(cache_key)
        if compiled is None:
            # Column values become the VALUES / SET clause; other keys feed the WHERE's bindparams.
            columns = [key for key in sorted(cache_key[1]) if key in self.statement.table.c]
            done = self.statement.compile(dialect=dialect, column_keys=columns)
            compiled = _Compiled(sql=str(done), binds=_Binds.of(done, dialect))
            self._compiled[cache_key] = compiled
        return compiled

    async def execute(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> int:
        if not rows:
            return 0
        if not isinstance(conn, InlineConnection):
            params = [dict(row) for row in rows]
            result = await conn.execute(self.statement, params[0] if len(params) == 1 else params)
            return int(result.rowcount)
        dialect = conn.sync_connection.dialect
        compiled = self._compile(dialect, rows[0].keys())
        values = [compiled.binds.values(row) for row in rows]
        with _cursor(conn) as cursor:
            try:
                if len(values) == 1:
                    cursor.execute(compiled.sql, values[0])
                else:
                    cursor.executemany(compiled.sql, values)
            except dialect.loaded_dbapi.IntegrityError as exc:
                raise IntegrityError(compiled.sql, values, exc) from exc
            return int(cursor.rowcount)
