"""The tables, as SQLAlchemy Core objects for queries.

The schema itself is created and changed only by the Alembic migrations in `migrations/versions`;
keep this module in step with them (tests/store checks that a migrated database matches it).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from .types import UTCDateTime

__all__ = [
    "ACCOUNT_STATUSES",
    "accounts",
    "idempotency_keys",
    "metadata",
    "products",
    "server_groups",
    "servers",
    "service_facts",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ACCOUNT_STATUSES = ("PENDING", "ACTIVE", "SUSPENDED", "TERMINATED", "FAILED")

server_groups = Table(
    "server_groups",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("placement_rule", String(32), nullable=False),
    Column("failover", Boolean, nullable=False),
    Column("create_time", UTCDateTime, nullable=False),
    Column("update_time", UTCDateTime, nullable=False),
)

servers = Table(
    "servers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("display_name", String(100), nullable=False, unique=True),
    Column("protocol", String(8), nullable=False),
    Column("host", String(255), nullable=False),
    Column("port", Integer, nullable=False),
    Column("admin_username", String(255), nullable=False),
    # version byte || 12-byte nonce || AES-GCM ciphertext+tag; associated data = server id.
    Column("admin_password_enc", LargeBinary, nullable=False),
    Column("tls_insecure_skip_verify", Boolean, nullable=False),
    Column("tls_ca_bundle_pem", Text, nullable=False),
    Column("server_group_id", String(32), ForeignKey("server_groups.id"), nullable=True, index=True),
    Column("max_accounts", Integer, nullable=False),
    Column("max_connections", Integer, nullable=False),
    Column("placement_order", Integer, nullable=False),
    Column("create_time", UTCDateTime, nullable=False),
    Column("update_time", UTCDateTime, nullable=False),
    # Migration 0004: what the server last said it runs (meta/version), and whether it is drained
    # (takes no new accounts; its existing accounts are still managed).
    Column("comet_version", String(32), nullable=False, server_default=""),
    Column("comet_version_time", UTCDateTime, nullable=True),
    Column("draining", Boolean, nullable=False, server_default=false()),
)

products = Table(
    "products",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("description", String(1000), nullable=False),
    Column("currency_code", String(3), nullable=False),
    Column("base_price_minor", BigInteger, nullable=False),
    Column("server_group_id", String(32), ForeignKey("server_groups.id"), nullable=False, index=True),
    Column("policy_group_mode", String(32), nullable=False),
    Column("policy_id", String(255), nullable=False),
    Column("storage_provider_id", String(255), nullable=False),
    Column("require_password_change", Boolean, nullable=False),
    Column("setup_mode", String(32), nullable=False),
    # A list of {key, label, min_quantity, max_quantity, default_quantity, unit_price_minor, hidden}.
    Column("options", JSON, nullable=False),
    Column("create_time", UTCDateTime, nullable=False),
    Column("update_time", UTCDateTime, nullable=False),
)

# Migration 0004: facts about the service itself (e.g. the secret key's check value).
service_facts = Table(
    "service_facts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("update_time", UTCDateTime, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("method", String(200), nullable=False),
    Column("request_id", String(200), nullable=False),
    # HMAC of the request (keyed, so it reveals nothing about the secrets a request may carry).
    Column("fingerprint", String(64), nullable=False),
    Column("response", LargeBinary, nullable=False),
    Column("create_time", UTCDateTime, nullable=False, index=True),
    UniqueConstraint("method", "request_id"),
)

# Issue 5 extends this table (username, Comet state, ...) in later migrations.
accounts = Table(
    "accounts",
    metadata,
    Column("id", String(32), primary_key=True),
    # Nullable only so that deleting a product or server can detach its TERMINATED accounts.
    Column("product_id", String(32), ForeignKey("products.id"), nullable=True, index=True),
    Column("server_id", String(32), ForeignKey("servers.id"), nullable=True, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("create_time", UTCDateTime, nullable=False),
    Column("update_time", UTCDateTime, nullable=False),
    # Migration 0002: the account lifecycle.
    Column("customer_email", String(320), nullable=False, server_default=""),
    Column("customer_first_name", String(200), nullable=False, server_default=""),
    Column("customer_last_name", String(200), nullable=False, server_default=""),
    Column("customer_reference", String(200), nullable=False, server_default="", index=True),
    Column("requested_username", String(100), nullable=False, server_default=""),
    Column("suspend_reason", String(500), nullable=False, server_default=""),
    Column("failure_step", String(100), nullable=False, server_default=""),
    Column("failure_reason", String(100), nullable=False, server_default=""),
    Column("failure_message", Text, nullable=False, server_default=""),
    # Journal of the steps Comet does not make idempotent: "", ATTEMPTED, DONE.
    Column("add_user_state", String(16), nullable=False, server_default=""),
    Column("vault_state", String(16), nullable=False, server_default=""),
    Column("vault_id", String(200), nullable=False, server_default=""),
    Column("options", JSON, nullable=True),
    # Unique per server among live accounts (partial index uq_accounts_server_id_username).
    Column("username", String(100), nullable=True),
    Column("provision_requested", Boolean, nullable=False, server_default=false()),
    Column("password_generated", Boolean, nullable=False, server_default=false()),
    # The password until add-user is confirmed (AES-GCM, bound to the account id); then erased.
    Column("pending_password_enc", LargeBinary, nullable=True),
    # Which process works on the account, until when: per-account order across replicas.
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("usage", JSON, nullable=True),
    Column("usage_sync_time", UTCDateTime, nullable=True),
    Column("provision_time", UTCDateTime, nullable=True),
    Column("terminate_time", UTCDateTime, nullable=True),
    Column("version", Integer, nullable=False, server_default="0"),
    # Migration 0004. Whether the product's limits are in force on the Comet user: "", NO_USER,
    # PENDING, APPLIED, SUSPENDED.
    Column("limits_state", String(16), nullable=False, server_default=""),
    # Who made the Comet user this service may write to: CREATED (proved ours) or IMPORTED.
    Column("comet_user_origin", String(16), nullable=False, server_default=""),
    # The span of this account's add-user attempts for its current username, on Comet's clock (ms):
    # a user whose CreateTime falls outside it was made by someone else.
    Column("add_user_window_start_ms", BigInteger, nullable=True),
    Column("add_user_window_end_ms", BigInteger, nullable=True),
    # A provisioning that met a transient failure: how often it ran, when it runs next, until when.
    Column("provision_attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_time", UTCDateTime, nullable=True),
    Column("provision_deadline", UTCDateTime, nullable=True),
    # A generated password stays sealed until a reply carried it, at most until this time.
    Column("generated_password_expire_time", UTCDateTime, nullable=True),
    Index(
        "uq_accounts_server_id_username",
        "server_id",
        "username",
        unique=True,
        sqlite_where=text("status != 'TERMINATED'"),
        postgresql_where=text("status != 'TERMINATED'"),
    ),
)
