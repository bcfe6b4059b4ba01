"""Schema migrations, applied programmatically (Alembic scripts ship inside this package).

`upgrade` runs in one transaction: on PostgreSQL under an advisory lock, so replicas starting
together migrate once; on SQLite under `BEGIN IMMEDIATE`, which other processes wait for.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from .database import Database

__all__ = ["MIGRATIONS_DIR", "SchemaUnknown", "current_revision", "head_revision", "upgrade"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x636F6D6574  # "comet"

logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin, each run


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


class SchemaUnknown(Exception):
    """The database's schema revision is not one of this version's (a newer version migrated it)."""


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except Exception:  # alembic raises its own ResolutionError/CommandError family
        return False


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _upgrade(connection: Connection, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    current = _current(connection)
    if current is not None and not _known(current):
        raise SchemaUnknown(
            f"the database schema is at revision {current}, which this version does not know (its newest "
            f"is {head_revision()}): run the version of the service that migrated it, or a newer one"
        )
    command.upgrade(_config(connection), revision)


def _current(connection: Connection) -> Any:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(db: Database, revision: str = "head") -> str | None:
    """Apply pending migrations up to `revision`; returns the revision the database is now at."""
    async with db.transaction() as conn:
        await conn.run_sync(_upgrade, revision)
        current: str | None = await conn.run_sync(_current)
    return current


async def current_revision(db: Database) -> str | None:
    async with db.read() as conn:
        current: str | None = await conn.run_sync(_current)
    return current
