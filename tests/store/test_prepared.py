"""PreparedSelect: the SQLite fast path returns exactly what SQLAlchemy's own execution returns."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from comet_provisioning.store import account_rows as rows
from comet_provisioning.store import open_database, upgrade
from comet_provisioning.store.account_records import (
    Account,
    AccountFilter,
    Customer,
    Failure,
    Status,
    StepState,
)
from comet_provisioning.store.database import Database

T0 = dt.datetime(2026, 11, 26, 16, 30, 21, 123456, tzinfo=dt.UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    handle = open_database(database_url)
    await upgrade(handle)
    try:
        yield handle
    finally:
        await handle.close()


def rich_account(account_id: str, request_id: str) -> Account:
    """Every column type the select reads: text, NULLs, JSON, bytes, booleans, datetimes."""
    return Account(
        id=account_id,
        product_id="",
        customer=Customer(email="ana@example.com", first_name="Ana", last_name="Lima", reference="c-1"),
        options={"number_of_devices": 3, "storage_vault_quota_gb": 250},
        status=Status.FAILED,
        create_time=T0,
        update_time=T0 + dt.timedelta(seconds=1),
        requested_username="ana.lima",
        username="ana.lima_0042",
        suspend_reason="",
        failure=Failure(step="request_vault", reason="COMET_UNAVAILABLE", message="502 from Comet"),
        provision_requested=True,
        password_generated=True,
        add_user=StepState.DONE,
        vault=StepState.ATTEMPTED,
        vault_id="",
        pending_password_enc=b"\x00\x01sealed\xff",
        create_request_id=request_id,
        create_fingerprint="f" * 64,
        usage={"devices": 2, "vault_bytes": 1 << 40, "vaults": [{"id": "v1"}]},
        usage_sync_time=T0 + dt.timedelta(minutes=5, microseconds=7),
        provision_time=None,
        terminate_time=T0 + dt.timedelta(days=3),
    )


async def test_the_fast_path_reads_what_sqlalchemy_reads(db: Database) -> None:
    stored = [rich_account("acc-1", "req-1"), rich_account("acc-2", "")]
    stored[1].usage = None
    stored[1].pending_password_enc = None
    stored[1].failure = None
    stored[1].status = Status.ACTIVE
    async with db.transaction() as conn:
        for account in stored:
            await rows.insert_account(conn, account)
    async with db.read() as conn:
        through_sqlalchemy = await rows.list_accounts(conn, AccountFilter(), offset=0, limit=10)
    assert through_sqlalchemy == stored
    for account in stored:
        async with db.read_one() as conn:
            assert await rows.get_account(conn, account.id) == account
        async with db.read() as conn:
            assert await rows.get_account(conn, account.id) == account
    async with db.read_one() as conn:
        assert await rows.get_by_create_request(conn, "req-1") == stored[0]
        assert await rows.get_account(conn, "acc-missing") is None
        assert await rows.get_by_create_request(conn, "req-missing") is None


async def test_inside_a_write_transaction_the_fast_path_sees_its_own_writes(db: Database) -> None:
    account = rich_account("acc-3", "req-3")
    async with db.transaction() as conn:
        await rows.insert_account(conn, account)
        assert await rows.get_account(conn, "acc-3") == account
        saved = await rows.save_account(conn, account)
        assert await rows.get_account(conn, "acc-3") == saved
