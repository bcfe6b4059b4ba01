"""Comet fidelity and operations: what each server runs and whether it takes new accounts; per
account, the proof of ownership of its Comet user, the retry schedule of a provisioning that met a
transient failure, whether the product's limits are in force, and how long a generated password
waits for a reply to carry it; a key-value table for the service's own facts (the secret key's
check value).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("servers", sa.Column("comet_version", sa.String(32), nullable=False, server_default=""))
    op.add_column("servers", sa.Column("comet_version_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("servers", sa.Column("draining", sa.Boolean(), nullable=False, server_default=sa.false()))

    op.add_column("accounts", sa.Column("limits_state", sa.String(16), nullable=False, server_default=""))
    op.add_column(
        "accounts", sa.Column("comet_user_origin", sa.String(16), nullable=False, server_default="")
    )
    op.add_column("accounts", sa.Column("add_user_window_start_ms", sa.BigInteger(), nullable=True))
    op.add_column("accounts", sa.Column("add_user_window_end_ms", sa.BigInteger(), nullable=True))
    op.add_column(
        "accounts", sa.Column("provision_attempts", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("accounts", sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("accounts", sa.Column("provision_deadline", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "accounts", sa.Column("generated_password_expire_time", sa.DateTime(timezone=True), nullable=True)
    )
    # Existing accounts: an ACTIVE or SUSPENDED account had its limits applied when it was provisioned,
    # and every Comet user an account points at was created by this service or imported on purpose.
    op.execute("UPDATE accounts SET limits_state = 'APPLIED' WHERE status IN ('ACTIVE', 'SUSPENDED')")
    op.execute(
        "UPDATE accounts SET comet_user_origin = CASE WHEN EXISTS (SELECT 1 FROM account_events e"
        " WHERE e.account_id = accounts.id AND e.operation = 'import') THEN 'IMPORTED' ELSE 'CREATED' END"
        " WHERE add_user_state = 'DONE'"
    )

    op.create_table(
        "service_facts",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_service_facts"),
    )


def downgrade() -> None:
    op.drop_table("service_facts")
    for name in (
        "generated_password_expire_time",
        "provision_deadline",
        "next_attempt_time",
        "provision_attempts",
        "add_user_window_end_ms",
        "add_user_window_start_ms",
        "comet_user_origin",
        "limits_state",
    ):
        with op.batch_alter_table("accounts") as batch:
            batch.drop_column(name)
    with op.batch_alter_table("servers") as batch:
        batch.drop_column("draining")
        batch.drop_column("comet_version_time")
        batch.drop_column("comet_version")
