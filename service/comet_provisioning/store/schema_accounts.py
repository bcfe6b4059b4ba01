"""Tables of the account lifecycle (migration 0002) beside the `accounts` columns in schema.py."""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

from .schema import metadata
from .types import UTCDateTime

__all__ = ["account_events", "server_policies"]

account_events = Table(
    "account_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(32), ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("operation", String(50), nullable=False),
    Column("step", String(50), nullable=False),
    Column("comet_endpoint", String(100), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("error", Text, nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("create_time", UTCDateTime, nullable=False),
    Index("ix_account_events_account_id_id", "account_id", "id"),
)

# Policy groups this service created on a server for a product ("[Create New Policy Group]").
server_policies = Table(
    "server_policies",
    metadata,
    Column("server_id", String(32), ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True),
    Column("policy_id", String(255), primary_key=True),
    Column("product_id", String(32), nullable=False),
    Column("create_time", UTCDateTime, nullable=False),
)
