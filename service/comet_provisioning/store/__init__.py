"""Persistence: SQLite by default, PostgreSQL for several replicas; Alembic migrations.

Repositories are modules of plain async functions over an `AsyncConnection`; the caller decides the
transaction (`Database.transaction()` / `Database.read()`), so one request's writes commit together.
"""

from __future__ import annotations

from . import accounts, idempotency, products, servers
from .database import Database, DatabaseUnavailable, UnsupportedDatabaseUrl, open_database
from .idempotency import RequestIdReused, run_once, transact
from .migrate import SchemaUnknown, current_revision, head_revision, upgrade
from .records import ProductOption, ProductRecord, ServerGroupRecord, ServerRecord
from .types import utcnow

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "ProductOption",
    "ProductRecord",
    "RequestIdReused",
    "SchemaUnknown",
    "ServerGroupRecord",
    "ServerRecord",
    "UnsupportedDatabaseUrl",
    "accounts",
    "current_revision",
    "head_revision",
    "idempotency",
    "open_database",
    "products",
    "run_once",
    "servers",
    "transact",
    "upgrade",
    "utcnow",
]
