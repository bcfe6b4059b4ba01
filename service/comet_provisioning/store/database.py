"""The database handle: one async SQLAlchemy engine, transactions, and SQLite's few needs.

SQLite (the default) gets WAL, a busy timeout and enforced foreign keys, explicit `BEGIN` (the
driver's implicit transactions would run our reads outside the transaction) and, in this process,
one write transaction at a time: SQLite has a single writer anyway, and queueing in asyncio is
cheaper and fairer than hundreds of connections spinning on SQLITE_BUSY. PostgreSQL needs nothing
special: concurrent transactions and unique constraints do the work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

__all__ = ["Database", "open_database"]

log = logging.getLogger("comet_provisioning.store")

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
)


class Database:
    """An engine plus the transaction discipline every repository call runs under."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.url: URL = engine.url
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction: committed when the block exits normally, else rolled back."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.connect() as conn:
            await conn.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            async with conn.begin():
                yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction with one consistent snapshot; never waits for writers."""
        async with self.engine.connect() as conn, conn.begin() as txn:
            yield conn
            await txn.rollback()

    @contextlib.asynccontextmanager
    async def read_one(self) -> AsyncIterator[AsyncConnection]:
        """For a single SELECT: on SQLite without an explicit BEGIN (one statement is its own
        snapshot), which saves the driver round trips a transaction costs on the hot read path."""
        if not self.is_sqlite:
            async with self.read() as conn:
                yield conn
            return
        async with self.engine.connect() as conn:
            await conn.execution_options(sqlite_begin="")
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        statement = conn.get_execution_options().get("sqlite_begin", "BEGIN")
        if statement:  # "" (read_one): the single statement runs in autocommit
            conn.exec_driver_sql(statement)


def open_database(url: str | URL, *, echo: bool = False) -> Database:
    """An engine for `url` (sqlite+aiosqlite:///path or postgresql+asyncpg://...), not yet connected.

    For SQLite the parent directory is created if missing.
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["pool_size"] = 8
        kwargs["max_overflow"] = 32
    else:
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
        kwargs["pool_pre_ping"] = True
    engine = create_async_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    return Database(engine)
