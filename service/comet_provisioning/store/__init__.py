"""Persistence: SQLite by default, PostgreSQL for several replicas; Alembic migrations.

The core's unit of work (core/unit_of_work.py) is implemented in `unit_of_work.py`, with one
repository per table; a unit owns its transaction (`Database.transaction()` / `Database.read()`).
"""

from __future__ import annotations

from .database import Database, DatabaseUnavailable, UnsupportedDatabaseUrl, open_database
from .migrate import SchemaUnknown, current_revision, head_revision, upgrade
from .types import utcnow

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "SchemaUnknown",
    "UnsupportedDatabaseUrl",
    "current_revision",
    "head_revision",
    "open_database",
    "upgrade",
    "utcnow",
]
