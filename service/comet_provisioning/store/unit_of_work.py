"""The core's unit of work (core/unit_of_work.py) over SQLAlchemy: one connection, and the
repositories of each table bound to it. Repositories are built on first use in a unit (most units
touch one or two tables), and hold nothing but the connection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection

from .account_events import SqlEventLog
from .account_leases import SqlLeases
from .account_table import SqlAccounts
from .database import Database
from .idempotency import SqlRequestRecords
from .placement_reads import SqlPlacementReads
from .products import SqlProducts
from .server_groups import SqlServerGroups
from .server_policies import SqlPolicyMarks
from .servers import SqlServers
from .usage_rows import SqlUsageSyncs

__all__ = ["SqlStore", "SqlUnitOfWork"]


class SqlUnitOfWork:
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    @property
    def accounts(self) -> SqlAccounts:
        return SqlAccounts(self._conn)

    @property
    def events(self) -> SqlEventLog:
        return SqlEventLog(self._conn)

    @property
    def leases(self) -> SqlLeases:
        return SqlLeases(self._conn)

    @property
    def policies(self) -> SqlPolicyMarks:
        return SqlPolicyMarks(self._conn)

    @property
    def placement(self) -> SqlPlacementReads:
        return SqlPlacementReads(self._conn)

    @property
    def usage_syncs(self) -> SqlUsageSyncs:
        return SqlUsageSyncs(self._conn)

    @property
    def request_records(self) -> SqlRequestRecords:
        return SqlRequestRecords(self._conn)

    @property
    def servers(self) -> SqlServers:
        return SqlServers(self._conn)

    @property
    def server_groups(self) -> SqlServerGroups:
        return SqlServerGroups(self._conn)

    @property
    def products(self) -> SqlProducts:
        return SqlProducts(self._conn)


class SqlStore:
    """The Store of the core, over a Database (SQLite inline or PostgreSQL through asyncpg)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.db.transaction() as conn:
            yield SqlUnitOfWork(conn)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.db.read() as conn:
            yield SqlUnitOfWork(conn)

    @contextlib.asynccontextmanager
    async def read_one(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self.db.read_one() as conn:
            yield SqlUnitOfWork(conn)
