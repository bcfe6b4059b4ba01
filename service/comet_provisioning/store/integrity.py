"""Which rule a failed write broke, read from the database's own error code (SQLSTATE on
PostgreSQL, the extended result code on SQLite), so a repository can raise the domain's error."""

from __future__ import annotations

import enum

from sqlalchemy.exc import IntegrityError

__all__ = ["Broken", "broken_rule"]


class Broken(enum.Enum):
    UNIQUE = "unique"
    FOREIGN_KEY = "foreign key"
    OTHER = "other"


_PG = {"23505": Broken.UNIQUE, "23503": Broken.FOREIGN_KEY}
# SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_FOREIGNKEY
_SQLITE = {2067: Broken.UNIQUE, 1555: Broken.UNIQUE, 787: Broken.FOREIGN_KEY}


def broken_rule(exc: IntegrityError) -> Broken:
    original = exc.orig
    state = getattr(original, "sqlstate", None)
    if isinstance(state, str):
        return _PG.get(state, Broken.OTHER)
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _SQLITE.get(code, Broken.OTHER)
    return Broken.OTHER
