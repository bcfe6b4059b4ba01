"""The `accounts` table: an account's row in and out, its optimistic save, and the questions the
lifecycle asks of many accounts at once (listing, the sweep's due work, counts, usage readings).

Every save is conditional on the version read (optimistic concurrency), so two writers never
silently overwrite each other; the per-account lease keeps replicas from working on one account
at the same time in the first place. Storage errors become the domain's: a taken create request id
is RequestIdTaken, a username held by another live account on the server UsernameTaken.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.core.accounts.model import (
    Account,
    AccountFilter,
    Customer,
    Failure,
    LimitsState,
    Origin,
    StaleAccount,
    Status,
    StepState,
    UsernameTaken,
)
from comet_provisioning.core.accounts.repository import LeaseClaim, UsageReading

from .prepared import PreparedSelect, PreparedWrite
from .schema import accounts
from .types import utcnow

__all__ = ["SqlAccounts"]


def _values(account: Account) -> dict[str, Any]:
    failure = account.failure
    return {
        "id": account.id,
        "product_id": account.product_id or None,
        "server_id": account.server_id or None,
        "status": account.status.value,
        "create_time": account.create_time,
        "update_time": account.update_time,
        "customer_email": account.customer.email,
        "customer_first_name": account.customer.first_name,
        "customer_last_name": account.customer.last_name,
        "customer_reference": account.customer.reference,
        "requested_username": account.requested_username,
        "suspend_reason": account.suspend_reason,
        "failure_step": failure.step if failure else "",
        "failure_reason": failure.reason if failure else "",
        "failure_message": failure.message if failure else "",
        "add_user_state": account.add_user.value,
        "vault_state": account.vault.value,
        "vault_id": account.vault_id,
        "options": dict(account.options),
        "username": account.username or None,
        "provision_requested": account.provision_requested,
        "password_generated": account.password_generated,
        "pending_password_enc": account.pending_password_enc,
        "usage": account.usage,
        "usage_sync_time": account.usage_sync_time,
        "provision_time": account.provision_time,
        "terminate_time": account.terminate_time,
        "limits_state": account.limits_state.value,
        "comet_user_origin": account.comet_user_origin.value,
        "add_user_window_start_ms": account.add_user_window_start_ms,
        "add_user_window_end_ms": account.add_user_window_end_ms,
        "provision_attempts": account.provision_attempts,
        "next_attempt_time": account.next_attempt_time,
        "provision_deadline": account.provision_deadline,
        "generated_password_expire_time": account.generated_password_expire_time,
        "version": account.version,
    }


def _account(m: Mapping[Any, Any]) -> Account:
    failure = (
        Failure(step=m["failure_step"], reason=m["failure_reason"], message=m["failure_message"])
        if m["failure_reason"]
        else None
    )
    return Account(
        id=m["id"],
        product_id=m["product_id"] or "",
        customer=Customer(
            email=m["customer_email"],
            first_name=m["customer_first_name"],
            last_name=m["customer_last_name"],
            reference=m["customer_reference"],
        ),
        options={str(k): int(v) for k, v in (m["options"] or {}).items()},
        status=Status(m["status"]),
        create_time=m["create_time"],
        update_time=m["update_time"],
        requested_username=m["requested_username"],
        username=m["username"] or "",
        server_id=m["server_id"] or "",
        suspend_reason=m["suspend_reason"],
        failure=failure,
        provision_requested=bool(m["provision_requested"]),
        password_generated=bool(m["password_generated"]),
        add_user=StepState(m["add_user_state"]),
        vault=StepState(m["vault_state"]),
        vault_id=m["vault_id"],
        pending_password_enc=bytes(m["pending_password_enc"]) if m["pending_password_enc"] else None,
        usage=m["usage"],
        usage_sync_time=m["usage_sync_time"],
        provision_time=m["provision_time"],
        terminate_time=m["terminate_time"],
        limits_state=LimitsState(m["limits_state"]),
        comet_user_origin=Origin(m["comet_user_origin"]),
        add_user_window_start_ms=m["add_user_window_start_ms"],
        add_user_window_end_ms=m["add_user_window_end_ms"],
        provision_attempts=int(m["provision_attempts"]),
        next_attempt_time=m["next_attempt_time"],
        provision_deadline=m["provision_deadline"],
        generated_password_expire_time=m["generated_password_expire_time"],
        version=int(m["version"]),
    )


_COLUMNS = [c for c in accounts.c if c.name not in {"lease_owner", "lease_until"}]


# The hot statements are built once: SQLAlchemy then skips re-coercing every value and recomputing
# the statement's cache key on each call (measured: a third of the create path's CPU).
_INSERT = PreparedWrite(insert(accounts))


# The two lookups on hot paths (every account RPC; every create's idempotency check) skip
# SQLAlchemy's per-call execution work on SQLite (see prepared.py).
_BY_ID = PreparedSelect(select(*_COLUMNS).where(accounts.c.id == bindparam("account_id")))


_SAVE = PreparedWrite(
    update(accounts).where(
        accounts.c.id == bindparam("_account_id"), accounts.c.version == bindparam("_read_version")
    )
)


async def insert_account(
    conn: AsyncConnection,
    account: Account,
    *,
    lease_owner: str | None = None,
    lease_until: dt.datetime | None = None,
) -> None:
    """Raises IntegrityError when the create request id (or the username on its server) is taken."""
    row = {**_values(account), "lease_owner": lease_owner, "lease_until": lease_until}
    await _INSERT.execute(conn, [row])


async def get_account(conn: AsyncConnection, account_id: str) -> Account | None:
    row = await _BY_ID.first(conn, {"account_id": account_id})
    return _account(row) if row is not None else None


async def save_account(conn: AsyncConnection, account: Account, *, release_lease: bool = False) -> Account:
    """Writes `account` if the row still has the version it was read with; bumps the version.

    Raises StaleAccount if another writer got there first, and IntegrityError if the username is
    held by another live account on that server.
    """
    saved = Account(**{**account.__dict__, "version": account.version + 1, "update_time": utcnow()})
    values = _values(saved)
    # Usage is written only by set_usage: a lifecycle save of an older read must not undo a sync.
    del values["id"], values["create_time"], values["usage"], values["usage_sync_time"]
    if release_lease:
        values.update(lease_owner=None, lease_until=None)
    values.update(_account_id=account.id, _read_version=account.version)
    written = await _SAVE.execute(conn, [values])
    if written != 1:
        raise StaleAccount(account.id)
    return saved


async def list_accounts(
    conn: AsyncConnection, where: AccountFilter, *, after: tuple[dt.datetime, str] | None, limit: int
) -> list[Account]:
    """Oldest first; `after` is the (create_time, id) of the last account of the previous page."""
    query = select(*_COLUMNS)
    if where.server_id:
        query = query.where(accounts.c.server_id == where.server_id)
    if where.product_id:
        query = query.where(accounts.c.product_id == where.product_id)
    if where.status is not None:
        query = query.where(accounts.c.status == where.status.value)
    if where.customer_reference:
        query = query.where(accounts.c.customer_reference == where.customer_reference)
    if after is not None:
        when, account_id = after
        query = query.where(
            or_(
                accounts.c.create_time > when,
                and_(accounts.c.create_time == when, accounts.c.id > account_id),
            )
        )
    query = query.order_by(accounts.c.create_time, accounts.c.id).limit(limit)
    return [_account(row._mapping) for row in await conn.execute(query)]


async def due_accounts(conn: AsyncConnection, now: dt.datetime, *, limit: int) -> list[str]:
    """Accounts the sweep should run now, with no live lease: provisioning asked for and not
    finished whose next attempt is due, and FAILED accounts whose Comet user's limits are not
    confirmed yet. Oldest due first."""
    due_at = func.coalesce(accounts.c.next_attempt_time, accounts.c.create_time)
    query = (
        select(accounts.c.id)
        .where(
            or_(
                and_(accounts.c.status == Status.PENDING.value, accounts.c.provision_requested.is_(True)),
                and_(
                    accounts.c.status == Status.FAILED.value,
                    accounts.c.limits_state == LimitsState.PENDING.value,
                ),
            ),
            or_(accounts.c.next_attempt_time.is_(None), accounts.c.next_attempt_time <= now),
            or_(accounts.c.lease_until.is_(None), accounts.c.lease_until < now),
        )
        .order_by(due_at)
        .limit(limit)
    )
    return [row.id for row in await conn.execute(query)]


async def erase_expired_passwords(conn: AsyncConnection, now: dt.datetime) -> int:
    """Generated passwords that no reply carried within their retention are erased."""
    result = await conn.execute(
        update(accounts)
        .where(
            accounts.c.generated_password_expire_time < now,
            or_(accounts.c.lease_until.is_(None), accounts.c.lease_until < now),
        )
        .values(
            pending_password_enc=None,
            generated_password_expire_time=None,
            version=accounts.c.version + 1,
        )
    )
    return int(result.rowcount or 0)


async def accounts_on_server(
    conn: AsyncConnection, server_id: str, statuses: Sequence[Status] | None = None
) -> list[Account]:
    """Every account placed on a server (optionally only in `statuses`), oldest first."""
    query = select(*_COLUMNS).where(accounts.c.server_id == server_id)
    if statuses is not None:
        query = query.where(accounts.c.status.in_([s.value for s in statuses]))
    query = query.order_by(accounts.c.create_time, accounts.c.id)
    return [_account(row._mapping) for row in await conn.execute(query)]


async def set_usage(conn: AsyncConnection, usage: Sequence[tuple[str, dict[str, Any], dt.datetime]]) -> None:
    """Stores (account id, usage, sync time) triples in one statement. Usage is a reading, not
    account state: the version is not bumped, so it never makes a lifecycle save stale."""
    if not usage:
        return
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == bindparam("b_id"))
        .values(usage=bindparam("b_usage"), usage_sync_time=bindparam("b_time")),
        [{"b_id": account_id, "b_usage": value, "b_time": when} for account_id, value, when in usage],
    )


async def count_by_status(conn: AsyncConnection) -> dict[str, int]:
    """Accounts per status (the metrics gauge)."""
    query = select(accounts.c.status, func.count()).group_by(accounts.c.status)
    return {str(status): int(count) for status, count in await conn.execute(query)}


async def count_by_limits(conn: AsyncConnection) -> dict[str, int]:
    """Live accounts per limits state (the metrics gauge); accounts from before the state existed
    are left out."""
    query = (
        select(accounts.c.limits_state, func.count())
        .where(accounts.c.status != Status.TERMINATED.value, accounts.c.limits_state != "")
        .group_by(accounts.c.limits_state)
    )
    return {str(state): int(count) for state, count in await conn.execute(query)}


async def delete_unstarted(conn: AsyncConnection, account_id: str, owner: str) -> bool:
    """Removes an order this process placed but never sent to Comet (its lease still held)."""
    result = await conn.execute(
        delete(accounts).where(accounts.c.id == account_id, accounts.c.lease_owner == owner)
    )
    return bool(result.rowcount)


class SqlAccounts:
    """AccountRepository over one connection (see core/accounts/repository.py)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, account_id: str) -> Account | None:
        return await get_account(self._conn, account_id)

    async def add(self, account: Account, *, lease: LeaseClaim | None = None) -> None:
        try:
            await insert_account(
                self._conn,
                account,
                lease_owner=lease.owner if lease else None,
                lease_until=lease.until if lease else None,
            )
        except IntegrityError as exc:
            raise _conflict(exc, account) from exc

    async def save(self, account: Account, *, end_lease: bool = False) -> Account:
        try:
            return await save_account(self._conn, account, release_lease=end_lease)
        except IntegrityError as exc:
            raise _conflict(exc, account) from exc

    async def remove_unstarted(self, account_id: str, lease_owner: str) -> bool:
        return await delete_unstarted(self._conn, account_id, lease_owner)

    async def page(
        self, where: AccountFilter, *, after: tuple[dt.datetime, str] | None, limit: int
    ) -> list[Account]:
        return await list_accounts(self._conn, where, after=after, limit=limit)

    async def on_server(self, server_id: str, statuses: Sequence[Status] | None = None) -> list[Account]:
        return await accounts_on_server(self._conn, server_id, statuses)

    async def due(self, now: dt.datetime, *, limit: int) -> list[str]:
        return await due_accounts(self._conn, now, limit=limit)

    async def erase_expired_passwords(self, now: dt.datetime) -> int:
        return await erase_expired_passwords(self._conn, now)

    async def count_by_status(self) -> dict[str, int]:
        return await count_by_status(self._conn)

    async def count_by_limits(self) -> dict[str, int]:
        return await count_by_limits(self._conn)

    async def set_usage(self, readings: Sequence[UsageReading]) -> None:
        await set_usage(self._conn, [(r.account_id, r.usage, r.sync_time) for r in readings])


def _conflict(exc: IntegrityError, account: Account) -> Exception:
    """The unique rule an account row can break besides its id: its username is held by another
    live account on its server."""
    if "username" in str(exc.orig).lower():
        return UsernameTaken(account.server_id, account.username)
    return exc
