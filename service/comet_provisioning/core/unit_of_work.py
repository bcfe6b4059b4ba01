"""The seam between the provisioning core and persistence (the "unit of work" of *Architecture
Patterns with Python*).

Core code asks the `Store` for a unit of work, uses the repositories it carries, and never sees a
connection, a statement or a storage exception: a write unit commits when its block ends without an
error and rolls back otherwise; repositories raise the domain's own errors (`StaleAccount`,
`UsernameTaken`, `RequestIdTaken`, `NameTaken`, `UnknownServerGroup`). `store/` implements it with
SQLAlchemy (SQLite or PostgreSQL); tests implement it in memory, so the reconcile logic runs without
a database.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from .accounts.repository import (
    AccountRepository,
    EventLog,
    LeaseStore,
    PlacementReads,
    PolicyMarks,
    UsageSyncRecords,
)
from .product_repository import ProductRepository
from .request_records import RequestRecords
from .server_repository import ServerGroupRepository, ServerRepository

__all__ = ["Store", "UnitOfWork"]


class UnitOfWork(Protocol):
    """One transaction (or one consistent read) and the repositories bound to it."""

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def events(self) -> EventLog: ...

    @property
    def leases(self) -> LeaseStore: ...

    @property
    def policies(self) -> PolicyMarks: ...

    @property
    def placement(self) -> PlacementReads: ...

    @property
    def usage_syncs(self) -> UsageSyncRecords: ...

    @property
    def request_records(self) -> RequestRecords: ...

    @property
    def servers(self) -> ServerRepository: ...

    @property
    def server_groups(self) -> ServerGroupRepository: ...

    @property
    def products(self) -> ProductRepository: ...


class Store(Protocol):
    def write(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A transaction: committed when the block ends, rolled back when it raises."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A consistent read of several statements; writing through it is an error."""
        ...

    def read_one(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """One read statement (the cheapest way in: no snapshot to set up)."""
        ...
