"""Servers, server groups, products, idempotency keys and the first shape of accounts.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def _times() -> list[sa.Column[Any]]:
    return [
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "server_groups",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("placement_rule", sa.String(32), nullable=False),
        sa.Column("failover", sa.Boolean(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_server_groups"),
        sa.UniqueConstraint("name", name="uq_server_groups_name"),
    )
    op.create_table(
        "servers",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("protocol", sa.String(8), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("admin_username", sa.String(255), nullable=False),
        sa.Column("admin_password_enc", sa.LargeBinary(), nullable=False),
        sa.Column("tls_insecure_skip_verify", sa.Boolean(), nullable=False),
        sa.Column("tls_ca_bundle_pem", sa.Text(), nullable=False),
        sa.Column("server_group_id", sa.String(32), nullable=True),
        sa.Column("max_accounts", sa.Integer(), nullable=False),
        sa.Column("max_connections", sa.Integer(), nullable=False),
        sa.Column("placement_order", sa.Integer(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_servers"),
        sa.UniqueConstraint("display_name", name="uq_servers_display_name"),
        sa.ForeignKeyConstraint(
            ["server_group_id"], ["server_groups.id"], name="fk_servers_server_group_id_server_groups"
        ),
    )
    op.create_index("ix_servers_server_group_id", "servers", ["server_group_id"])
    op.create_table(
        "products",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("base_price_minor", sa.BigInteger(), nullable=False),
        sa.Column("server_group_id", sa.String(32), nullable=False),
        sa.Column("policy_group_mode", sa.String(32), nullable=False),
        sa.Column("policy_id", sa.String(255), nullable=False),
        sa.Column("storage_provider_id", sa.String(255), nullable=False),
        sa.Column("require_password_change", sa.Boolean(), nullable=False),
        sa.Column("setup_mode", sa.String(32), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("name", name="uq_products_name"),
        sa.ForeignKeyConstraint(
            ["server_group_id"], ["server_groups.id"], name="fk_products_server_group_id_server_groups"
        ),
    )
    op.create_index("ix_products_server_group_id", "products", ["server_group_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("method", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_idempotency_keys"),
        sa.UniqueConstraint("method", "request_id", name="uq_idempotency_keys_method_request_id"),
    )
    op.create_index("ix_idempotency_keys_create_time", "idempotency_keys", ["create_time"])
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("product_id", sa.String(32), nullable=True),
        sa.Column("server_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name="fk_accounts_product_id_products"),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], name="fk_accounts_server_id_servers"),
    )
    op.create_index("ix_accounts_product_id", "accounts", ["product_id"])
    op.create_index("ix_accounts_server_id", "accounts", ["server_id"])
    op.create_index("ix_accounts_status", "accounts", ["status"])


def downgrade() -> None:
    op.drop_table("accounts")
    op.drop_table("idempotency_keys")
    op.drop_table("products")
    op.drop_table("servers")
    op.drop_table("server_groups")
