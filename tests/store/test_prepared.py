"""PreparedSelect: the SQLite fast path returns exactly what SQLAlchemy's own execution returns."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from comet_provisioning.core.accounts.model import (
    Account,
    AccountFilter,
    Customer,
    Event,
    Failure,
    StaleAccount,
    Status,
    StepState,
)
from comet_provisioning.store import account_events, account_table, open_database, upgrade
from comet_provisioning.store.database import Database
from sqlalchemy.exc import IntegrityError

T0 = dt.datetime(2026, 11, 26, 16, 30, 21, 123456, tzinfo=dt.UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    handle = open_database(database_url)
    await upgrade(handle)
    try:
        yield handle
    finally:
        await handle.close()


def rich_account(account_id: str) -> Account:
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
        usage={"devices": 2, "vault_bytes": 1 << 40, "vaults": [{"id": "v1"}]},
        usage_sync_time=T0 + dt.timedelta(minutes=5, microseconds=7),
        provision_time=None,
        terminate_time=T0 + dt.timedelta(days=3),
    )


async def test_the_fast_path_reads_what_sqlalchemy_reads(db: Database) -> None:
    stored = [rich_account("acc-1"), rich_account("acc-2")]
    stored[1].usage = None
    stored[1].pending_password_enc = None
    stored[1].failure = None
    stored[1].status = Status.ACTIVE
    async with db.transaction() as conn:
        for account in stored:
            await account_table.insert_account(conn, account)
    async with db.read() as conn:
        through_sqlalchemy = await account_table.list_accounts(conn, AccountFilter(), after=None, limit=10)
    assert through_sqlalchemy == stored
    for account in stored:
        async with db.read_one() as conn:
            assert await account_table.get_account(conn, account.id) == account
        async with db.read() as conn:
            assert await account_table.get_account(conn, account.id) == account
    async with db.read_one() as conn:
        assert await account_table.get_account(conn, "acc-missing") is None


async def test_inside_a_write_transaction_the_fast_path_sees_its_own_writes(db: Database) -> None:
    account = rich_account("acc-3")
    async with db.transaction() as conn:
        await account_table.insert_account(conn, account)
        assert await account_table.get_account(conn, "acc-3") == account
        saved = await account_table.save_account(conn, account)
        assert await account_table.get_account(conn, "acc-3") == saved


async def test_prepared_writes_store_what_sqlalchemy_reads_back(db: Database) -> None:
    """Insert, optimistic save and events go through the fast path on SQLite; SQLAlchemy's own
    execution reads every column back as written."""
    account = rich_account("acc-4")
    async with db.transaction() as conn:
        await account_table.insert_account(conn, account)
        saved = await account_table.save_account(conn, account, release_lease=True)
        await account_events.add_events(
            conn,
            [
                Event(account_id="acc-4", operation="create", step=f"s{i}", outcome="SUCCEEDED",
                      duration_ms=1.5 * i, error="" if i else "boom", request_id="req-4",
                      comet_endpoint="add-user", create_time=T0 + dt.timedelta(microseconds=i))
                for i in range(3)
            ],
        )  # fmt: skip
    async with db.read() as conn:
        assert await account_table.list_accounts(conn, AccountFilter(), after=None, limit=10) == [saved]
        events = await account_events.list_events(conn, "acc-4", before_id=0, limit=10)
    assert [(e.step, e.duration_ms, e.error, e.create_time) for e in reversed(events)] == [
        (f"s{i}", 1.5 * i, "" if i else "boom", T0 + dt.timedelta(microseconds=i)) for i in range(3)
    ]


async def test_prepared_writes_raise_what_sqlalchemy_raises(db: Database) -> None:
    account = rich_account("acc-5")
    async with db.transaction() as conn:
        await account_table.insert_account(conn, account)
    with pytest.raises(IntegrityError):  # the same id
        async with db.transaction() as conn:
            await account_table.insert_account(conn, rich_account("acc-5"))
    async with db.transaction() as conn:
        await account_table.save_account(conn, account)
    with pytest.raises(StaleAccount):  # saved from the version read before the last save
        async with db.transaction() as conn:
            await account_table.save_account(conn, account)
    async with db.read_one() as conn:
        current = await account_table.get_account(conn, "acc-5")
    assert current is not None
    assert current.version == account.version + 1


async def test_a_save_sets_the_indexed_columns_it_changes_and_the_indexes_follow(db: Database) -> None:
    """On SQLite a save leaves unchanged indexed columns out of its UPDATE: what it changes is
    still written, and lookups through those indexes find the new values."""
    account = rich_account("acc-7")
    async with db.transaction() as conn:
        await account_table.insert_account(conn, account)
        quiet = await account_table.save_account(conn, dataclasses.replace(account, suspend_reason="unpaid"))
        moved = await account_table.save_account(
            conn,
            dataclasses.replace(
                quiet,
                status=Status.ACTIVE,
                failure=None,
                username="ana.lima_0043",
                customer=dataclasses.replace(quiet.customer, reference="c-2"),
            ),
        )
    async with db.read() as conn:
        assert await account_table.get_account(conn, "acc-7") == moved
        by_index = await account_table.list_accounts(
            conn, AccountFilter(status=Status.ACTIVE, customer_reference="c-2"), after=None, limit=10
        )
        by_old_keys = await account_table.list_accounts(
            conn, AccountFilter(status=Status.FAILED, customer_reference="c-1"), after=None, limit=10
        )
    assert (quiet.suspend_reason, quiet.status) == ("unpaid", Status.FAILED)
    assert by_index == [moved]
    assert by_old_keys == []
