"""The usage sync's per-server record (migration 0003): when each server was last read, so the
age of a server's usage can be measured (metrics) and replicas can skip a server another replica
has just synced."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text

from .schema import metadata
from .types import UTCDateTime

__all__ = ["usage_syncs"]

usage_syncs = Table(
    "usage_syncs",
    metadata,
    Column("server_id", String(32), ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True),
    # The last sync that read the server; NULL until one succeeds.
    Column("last_sync_time", UTCDateTime, nullable=True),
    # The last attempt, successful or not, and how it went.
    Column("last_attempt_time", UTCDateTime, nullable=False),
    Column("last_ok", Boolean, nullable=False),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("accounts_updated", Integer, nullable=False, server_default="0"),
    Column("accounts_missing", Integer, nullable=False, server_default="0"),
)
