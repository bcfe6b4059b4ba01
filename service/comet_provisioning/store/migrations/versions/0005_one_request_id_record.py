"""Request ids have one record: a CreateAccount's moves from its account row (the
`create_request_id` and `create_fingerprint` columns) into `idempotency_keys`, where every other
method's already is; the record's response is the account id.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None

CREATE_METHOD = "/comet.provisioning.v1.AccountService/CreateAccount"

_keys = sa.table(
    "idempotency_keys",
    sa.column("method", sa.String),
    sa.column("request_id", sa.String),
    sa.column("fingerprint", sa.String),
    sa.column("response", sa.LargeBinary),
    sa.column("create_time", sa.DateTime(timezone=True)),
)


def _drop_column(name: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE accounts DROP COLUMN {name}")  # SQLite 3.35+: no table copy
    else:
        op.drop_column("accounts", name)


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, create_request_id, create_fingerprint, create_time FROM accounts"
            " WHERE create_request_id IS NOT NULL"
        )
    ).fetchall()
    if rows:
        op.bulk_insert(
            _keys,
            [
                {
                    "method": CREATE_METHOD,
                    "request_id": row.create_request_id,
                    "fingerprint": row.create_fingerprint,
                    "response": row.id.encode(),
                    "create_time": row.create_time
                    if isinstance(row.create_time, dt.datetime)
                    else dt.datetime.fromisoformat(str(row.create_time)),
                }
                for row in rows
            ],
        )
    op.drop_index("uq_accounts_create_request_id", table_name="accounts")
    _drop_column("create_request_id")
    _drop_column("create_fingerprint")


def downgrade() -> None:
    op.add_column(
        "accounts", sa.Column("create_fingerprint", sa.String(64), nullable=False, server_default="")
    )
    op.add_column("accounts", sa.Column("create_request_id", sa.String(200), nullable=True))
    op.create_index("uq_accounts_create_request_id", "accounts", ["create_request_id"], unique=True)
