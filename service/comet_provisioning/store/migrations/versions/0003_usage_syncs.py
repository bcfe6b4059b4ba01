"""Usage sync: when each server's usage was last read (the `usage_syncs` table).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_syncs",
        sa.Column("server_id", sa.String(32), nullable=False),
        sa.Column("last_sync_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_ok", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False, server_default=""),
        sa.Column("accounts_updated", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("accounts_missing", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("server_id", name="pk_usage_syncs"),
        sa.ForeignKeyConstraint(
            ["server_id"], ["servers.id"], name="fk_usage_syncs_server_id_servers", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    op.drop_table("usage_syncs")
