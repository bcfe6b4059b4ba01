"""The sweep's queries: what is due, a restarted process taking back its own leases, and the erasure
of generated passwords that outlived their retention."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from comet_provisioning.core.accounts.model import Account, Customer, LimitsState, Status
from comet_provisioning.core.accounts.repository import LeaseClaim
from comet_provisioning.core.clock import utcnow
from comet_provisioning.store import open_database, upgrade
from comet_provisioning.store.database import Database
from comet_provisioning.store.unit_of_work import SqlStore


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    handle = open_database(database_url)
    await upgrade(handle)
    try:
        yield handle
    finally:
        await handle.close()


def account(account_id: str, status: Status, **changes: object) -> Account:
    now = utcnow()
    base = Account(
        id=account_id,
        product_id="",
        customer=Customer(email=f"{account_id}@example.com"),
        options={},
        status=status,
        create_time=now - dt.timedelta(minutes=1),
        update_time=now,
        provision_requested=True,
    )
    return dataclasses.replace(base, **changes)


async def insert(db: Database, *accounts: Account, lease_owner: str | None = None) -> None:
    lease = LeaseClaim(lease_owner, utcnow() + dt.timedelta(minutes=5)) if lease_owner else None
    async with SqlStore(db).write() as uow:
        for item in accounts:
            await uow.accounts.add(item, lease=lease)


async def due(db: Database) -> set[str]:
    async with SqlStore(db).read() as uow:
        return set(await uow.accounts.due(utcnow(), limit=100))


async def test_due_accounts_follow_the_retry_schedule_and_the_limits(db: Database) -> None:
    later = utcnow() + dt.timedelta(hours=1)
    earlier = utcnow() - dt.timedelta(seconds=1)
    await insert(
        db,
        account("pending-now", Status.PENDING),
        account("pending-due", Status.PENDING, next_attempt_time=earlier),
        account("pending-later", Status.PENDING, next_attempt_time=later),
        account("manual", Status.PENDING, provision_requested=False),
        account("failed-contain", Status.FAILED, limits_state=LimitsState.PENDING, next_attempt_time=earlier),
        account("failed-applied", Status.FAILED, limits_state=LimitsState.APPLIED),
        account("active", Status.ACTIVE, limits_state=LimitsState.APPLIED),
    )
    assert await due(db) == {"pending-now", "pending-due", "failed-contain"}


async def test_a_restarted_process_takes_back_its_own_leases(db: Database) -> None:
    await insert(db, account("mine", Status.PENDING), lease_owner="host-a:50051")
    await insert(db, account("theirs", Status.PENDING), lease_owner="host-b:50051")
    assert await due(db) == set()
    async with SqlStore(db).write() as uow:
        assert await uow.leases.release_all("host-a:50051") == 1
    assert await due(db) == {"mine"}


async def test_generated_passwords_past_their_retention_are_erased(db: Database) -> None:
    sealed = b"\x01sealed"
    await insert(
        db,
        account(
            "expired",
            Status.ACTIVE,
            password_generated=True,
            pending_password_enc=sealed,
            generated_password_expire_time=utcnow() - dt.timedelta(seconds=1),
        ),
        account(
            "kept",
            Status.ACTIVE,
            password_generated=True,
            pending_password_enc=sealed,
            generated_password_expire_time=utcnow() + dt.timedelta(days=1),
        ),
    )
    async with SqlStore(db).write() as uow:
        assert await uow.accounts.erase_expired_passwords(utcnow()) == 1
    async with SqlStore(db).read() as uow:
        expired = await uow.accounts.get("expired")
        kept = await uow.accounts.get("kept")
    assert expired is not None
    assert expired.pending_password_enc is None
    assert kept is not None
    assert kept.pending_password_enc == sealed
