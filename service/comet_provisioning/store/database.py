"""The database handle: transactions and reads, on PostgreSQL or SQLite.

PostgreSQL goes through SQLAlchemy's asyncio engine over asyncpg: concurrent transactions and
unique constraints do the work.

SQLite (the default, one process) runs its statements *inline*, on the event loop's thread, through
a synchronous SQLAlchemy connection. With WAL and synchronous=NORMAL a statement takes tens of
microseconds, while the asyncio driver (aiosqlite) pays a thread round trip per cursor, execute,
fetch and close; under load each round trip waits for a busy event loop, and SQLite's single writer
holds its lock through all of them. Measured on the create path: the inline way halves the service's
CPU per account and lifts throughput, and the loop is blocked only for the statements themselves.
Writes are serialized in this process by an asyncio lock (one writer, `BEGIN IMMEDIATE`); reads use
their own connections (WAL readers never wait for the writer). Repositories see the same API either
way (`execute`, `begin_nested`, `run_sync`), so none of them knows which backend it runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "UnsupportedDatabaseUrl",
    "async_url",
    "open_database",
    "safe_url",
]

log = logging.getLogger("comet_provisioning.store")

T = TypeVar("T")

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    # Inline statements block the loop while they wait: keep the wait short (one process owns
    # the file; only an outside tool holding a write lock could make us wait at all).
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)


# Seconds a PostgreSQL connection attempt may take (asyncpg's own default is a minute).
_PG_CONNECT_TIMEOUT_S = 10


class UnsupportedDatabaseUrl(ValueError):
    """database_url names no database this service runs on (the message says what to use)."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened (the message names it, without its password)."""


def safe_url(url: str | URL) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def async_url(url: str | URL) -> URL:
    """`url` with the asyncio driver this service uses: postgresql://, postgres:// and any
    postgresql+DRIVER:// become postgresql+asyncpg://, sqlite:// becomes sqlite+aiosqlite://."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabaseUrl(
            "setting 'database_url': not a database URL; use postgresql://USER@HOST/DB or sqlite:///PATH"
        ) from None
    backend = parsed.drivername.partition("+")[0]
    if backend in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
        if "sslmode" in parsed.query and "ssl" not in parsed.query:
            # libpq's name for what asyncpg calls ssl (same values: require, verify-full, ...)
            query = dict(parsed.query)
            query["ssl"] = query.pop("sslmode")
            parsed = parsed.set(query=query)
        return parsed
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise UnsupportedDatabaseUrl(
        f"setting 'database_url': {backend!r} databases are not supported; use postgresql://USER@HOST/DB "
        "(several replicas) or sqlite:///PATH (one process)"
    )


def _unavailable(url: URL, exc: BaseException) -> DatabaseUnavailable:
    if isinstance(exc, DBAPIError):
        text = str(exc.orig or exc).strip()
        reason = text.splitlines()[0] if text else ""
    elif isinstance(exc, TimeoutError):
        reason = f"no answer within {_PG_CONNECT_TIMEOUT_S} s"
    elif isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    else:
        reason = str(exc)
    return DatabaseUnavailable(
        f"cannot reach the database {safe_url(url)}: {reason or type(exc).__name__}; check database_url "
        "and that the database server is running and accepts this user"
    )


class InlineConnection:
    """The part of AsyncConnection the repositories use, over a synchronous connection."""

    def __init__(self, conn: Connection) -> None:
        self.sync_connection = conn

    @property
    def dialect(self) -> Any:
        return self.sync_connection.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self.sync_connection.execute(statement, parameters)

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self.sync_connection, *args, **kwargs)

    @contextlib.asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[None]:
        with self.sync_connection.begin_nested():
            yield


class Database:
    """An engine plus the transaction discipline every repository call runs under."""

    def __init__(self, engine: AsyncEngine, inline: Engine | None = None) -> None:
        self.engine = engine
        self.url: URL = engine.url
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._inline = inline
        self._write_lock = asyncio.Lock()
        self._writer: Connection | None = None
        # Idle read connections by the BEGIN they use ("BEGIN" or "" for one autocommit statement):
        # set once per connection, since execution_options() is not free on a hot path.
        self._idle_readers: dict[str, list[Connection]] = {"BEGIN": [], "": []}

    # -- SQLite, inline -----------------------------------------------------------------------------

    def _writer_connection(self) -> Connection:
        assert self._inline is not None
        if self._writer is None or self._writer.closed:
            self._writer = self._inline.connect().execution_options(sqlite_begin="BEGIN IMMEDIATE")
        return self._writer

    @contextlib.contextmanager
    def _reader(self, begin: str) -> Iterator[Connection]:
        assert self._inline is not None
        idle = self._idle_readers[begin]
        conn = idle.pop() if idle else self._inline.connect().execution_options(sqlite_begin=begin)
        try:
            yield conn
        finally:
            if conn.in_transaction():
                conn.rollback()
            if len(idle) < 16:
                idle.append(conn)
            else:
                conn.close()

    # -- the API ------------------------------------------------------------------------------------

    async def ping(self) -> None:
        """One round trip to the database; DatabaseUnavailable if it cannot be reached or opened."""
        try:
            if self._inline is None:
                async with self.engine.connect() as conn:
                    await conn.exec_driver_sql("SELECT 1")
            else:
                with self._reader("") as conn:
                    conn.exec_driver_sql("SELECT 1")
        except (OSError, TimeoutError, DBAPIError) as exc:
            raise _unavailable(self.url, exc) from exc

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction: committed when the block exits normally, else rolled back."""
        if self._inline is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            writer = self._writer_connection()
            with writer.begin():
                yield cast(AsyncConnection, InlineConnection(writer))

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction with one consistent snapshot; never waits for writers."""
        if self._inline is None:
            async with self.engine.connect() as conn, conn.begin() as txn:
                yield conn
                await txn.rollback()
            return
        with self._reader("BEGIN") as reader, reader.begin():
            yield cast(AsyncConnection, InlineConnection(reader))

    @contextlib.asynccontextmanager
    async def read_one(self) -> AsyncIterator[AsyncConnection]:
        """For a single SELECT: on SQLite without an explicit BEGIN (one statement is its own
        snapshot)."""
        if self._inline is None:
            async with self.read() as conn:
                yield conn
            return
        with self._reader("") as reader:
            yield cast(AsyncConnection, InlineConnection(reader))

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        for idle in self._idle_readers.values():
            for conn in idle:
                conn.close()
            idle.clear()
        if self._inline is not None:
            self._inline.dispose()
        await self.engine.dispose()


def _configure_sqlite(sync_engine: Engine) -> None:
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
            # Straight to the DBAPI cursor: a fixed statement needs none of exec_driver_sql's work.
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.execute(statement)
            finally:
                cursor.close()


def open_database(url: str | URL, *, echo: bool = False) -> Database:
    """A handle for `url` (sqlite:///path or postgresql://..., the async driver chosen here), not
    yet connected. UnsupportedDatabaseUrl for any other database.

    For SQLite the parent directory is created if missing (DatabaseUnavailable if it cannot be).
    """
    parsed = async_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    inline: Engine | None = None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            directory = Path(parsed.database).expanduser().parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"cannot create the database directory {directory}: {exc.strerror}; set data_dir "
                    "(or database_url) to a directory this user may write"
                ) from exc
        kwargs["poolclass"] = NullPool  # the async engine only migrates; connections are not kept
        inline = create_engine(
            parsed.set(drivername="sqlite+pysqlite"),
            echo=echo,
            poolclass=NullPool,
            connect_args={"check_same_thread": False},
        )
        _configure_sqlite(inline)
    else:
        kwargs["pool_size"] = 10
        kwargs["max_overflow"] = 20
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"timeout": _PG_CONNECT_TIMEOUT_S}
    engine = create_async_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine.sync_engine)
    return Database(engine, inline)
