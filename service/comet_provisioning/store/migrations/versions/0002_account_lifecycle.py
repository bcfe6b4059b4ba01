"""Account lifecycle: customer, options, Comet username, provisioning journal, lease, usage;
the per-account event log; and the record of auto-created policy groups per server.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

_TEXT_COLUMNS = (
    ("customer_email", 320),
    ("customer_first_name", 200),
    ("customer_last_name", 200),
    ("customer_reference", 200),
    ("requested_username", 100),
    ("suspend_reason", 500),
    ("failure_step", 100),
    ("failure_reason", 100),
    ("add_user_state", 16),
    ("vault_state", 16),
    ("vault_id", 200),
    ("create_fingerprint", 64),
)


def upgrade() -> None:
    for name, length in _TEXT_COLUMNS:
        op.add_column("accounts", sa.Column(name, sa.String(length), nullable=False, server_default=""))
    op.add_column("accounts", sa.Column("failure_message", sa.Text(), nullable=False, server_default=""))
    op.add_column("accounts", sa.Column("options", sa.JSON(), nullable=True))
    op.add_column("accounts", sa.Column("username", sa.String(100), nullable=True))
    op.add_column("accounts", sa.Column("create_request_id", sa.String(200), nullable=True))
    op.add_column(
        "accounts", sa.Column("provision_requested", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        "accounts", sa.Column("password_generated", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("accounts", sa.Column("pending_password_enc", sa.LargeBinary(), nullable=True))
    op.add_column("accounts", sa.Column("lease_owner", sa.String(64), nullable=True))
    op.add_column("accounts", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("accounts", sa.Column("usage", sa.JSON(), nullable=True))
    op.add_column("accounts", sa.Column("usage_sync_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("accounts", sa.Column("provision_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("accounts", sa.Column("terminate_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("accounts", sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_accounts_customer_reference", "accounts", ["customer_reference"])
    op.create_index("uq_accounts_create_request_id", "accounts", ["create_request_id"], unique=True)
    # A username is held on a server by at most one live account: the reservation that makes the
    # choice race-free across concurrent calls and replicas. Terminated accounts free the name.
    op.create_index(
        "uq_accounts_server_id_username",
        "accounts",
        ["server_id", "username"],
        unique=True,
        sqlite_where=sa.text("status != 'TERMINATED'"),
        postgresql_where=sa.text("status != 'TERMINATED'"),
    )
    op.create_table(
        "account_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(32), nullable=False),
        sa.Column("operation", sa.String(50), nullable=False),
        sa.Column("step", sa.String(50), nullable=False),
        sa.Column("comet_endpoint", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_account_events"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_account_events_account_id_accounts", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_account_events_account_id_id", "account_events", ["account_id", "id"])
    op.create_table(
        "server_policies",
        sa.Column("server_id", sa.String(32), nullable=False),
        sa.Column("policy_id", sa.String(255), nullable=False),
        sa.Column("product_id", sa.String(32), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("server_id", "policy_id", name="pk_server_policies"),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name="fk_server_policies_server_id_servers", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("server_policies")
    op.drop_index("ix_account_events_account_id_id", table_name="account_events")
    op.drop_table("account_events")
    op.drop_index("uq_accounts_server_id_username", table_name="accounts")
    op.drop_index("uq_accounts_create_request_id", table_name="accounts")
    op.drop_index("ix_accounts_customer_reference", table_name="accounts")
    with op.batch_alter_table("accounts") as batch:
        for name in (
            *(n for n, _ in _TEXT_COLUMNS),
            "failure_message",
            "options",
            "username",
            "create_request_id",
            "provision_requested",
            "password_generated",
            "pending_password_enc",
            "lease_owner",
            "lease_until",
            "usage",
            "usage_sync_time",
            "provision_time",
            "terminate_time",
            "version",
        ):
            batch.drop_column(name)
