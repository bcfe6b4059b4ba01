"""Idempotency keys (AIP-155): the first successful outcome of (method, request_id), stored in the
same transaction as the write it describes, so "written" and "remembered" cannot disagree.

Only successes are stored: a rejected request leaves nothing behind, so running it again is exactly
as safe as running it the first time.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.core.request_records import RequestIdTaken
from comet_provisioning.core.request_records import StoredResponse as CoreStoredResponse

from .database import Database
from .prepared import PreparedSelect, PreparedWrite
from .schema import idempotency_keys
from .types import utcnow

__all__ = [
    "RequestIdReused",
    "SqlRequestRecords",
    "StoredResponse",
    "lookup",
    "prune",
    "remember",
    "run_once",
    "transact",
]

Work = Callable[[AsyncConnection], Awaitable[bytes]]


class RequestIdReused(Exception):
    """The request id was used before for a different request of the same method."""

    def __init__(self, method: str, request_id: str) -> None:
        super().__init__(f"request id {request_id!r} was already used for a different {method} request")
        self.method = method
        self.request_id = request_id


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    response: bytes
    create_time: dt.datetime


async def lookup(conn: AsyncConnection, method: str, request_id: str) -> StoredResponse | None:
    row = (
        await conn.execute(
            select(
                idempotency_keys.c.fingerprint, idempotency_keys.c.response, idempotency_keys.c.create_time
            ).where(idempotency_keys.c.method == method, idempotency_keys.c.request_id == request_id)
        )
    ).first()
    if row is None:
        return None
    return StoredResponse(
        fingerprint=row.fingerprint, response=bytes(row.response), create_time=row.create_time
    )


async def remember(
    conn: AsyncConnection, method: str, request_id: str, fingerprint: str, response: bytes
) -> None:
    """Record an outcome; a concurrent twin makes the enclosing transaction fail (IntegrityError)."""
    await conn.execute(
        insert(idempotency_keys).values(
            method=method,
            request_id=request_id,
            fingerprint=fingerprint,
            response=response,
            create_time=utcnow(),
        )
    )


async def transact(db: Database, work: Work, *, attempts: int = 2) -> bytes:
    """Run `work` in a transaction, once more if a unique or foreign key raced (IntegrityError):
    the second run's own checks then see the winner and answer accordingly.
    """
    for attempt in range(1, attempts + 1):
        try:
            async with db.transaction() as conn:
                return await work(conn)
        except IntegrityError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _replay(stored: StoredResponse, method: str, request_id: str, fingerprint: str) -> bytes:
    if not hmac.compare_digest(stored.fingerprint, fingerprint):
        raise RequestIdReused(method, request_id)
    return stored.response


async def run_once(db: Database, method: str, request_id: str, fingerprint: str, work: Work) -> bytes:
    """`work`'s serialized response, computed at most once per (method, request_id).

    A replay with the same fingerprint gets the stored bytes; a different fingerprint raises
    RequestIdReused. Without a request id this is just `transact(db, work)`. When `work` fails
    (e.g. "name already exists") because a concurrent twin of this very request committed first,
    the twin's outcome is returned instead of the failure.
    """
    if not request_id:
        return await transact(db, work)
    for attempt in (1, 2):
        try:
            async with db.transaction() as conn:
                stored = await lookup(conn, method, request_id)
                if stored is not None:
                    return _replay(stored, method, request_id, fingerprint)
                response = await work(conn)
                await remember(conn, method, request_id, fingerprint, response)
                return response
        except RequestIdReused:
            raise
        except Exception as exc:
            async with db.read() as conn:
                stored = await lookup(conn, method, request_id)
            if stored is not None:
                return _replay(stored, method, request_id, fingerprint)
            if isinstance(exc, IntegrityError) and attempt == 1:
                continue  # a unique or foreign key raced: the second run's checks see the winner
            raise
    raise AssertionError("unreachable")


async def prune(db: Database, older_than: dt.timedelta) -> int:
    """Forget outcomes older than `older_than`; returns how many were dropped."""
    async with db.transaction() as conn:
        result = await conn.execute(
            delete(idempotency_keys).where(idempotency_keys.c.create_time < utcnow() - older_than)
        )
    return int(result.rowcount or 0)


# The create path looks a request id up and records one on every order: both statements are
# prepared once (store/prepared.py), which the create's CPU shows.
_LOOKUP = PreparedSelect(
    select(idempotency_keys.c.fingerprint, idempotency_keys.c.response).where(
        idempotency_keys.c.method == bindparam("method"),
        idempotency_keys.c.request_id == bindparam("request_id"),
    )
)
_REMEMBER = PreparedWrite(insert(idempotency_keys))


class SqlRequestRecords:
    """RequestRecords (core/request_records.py) over one connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lookup(self, method: str, request_id: str) -> CoreStoredResponse | None:
        row = await _LOOKUP.first(self._conn, {"method": method, "request_id": request_id})
        return None if row is None else CoreStoredResponse(row["fingerprint"], bytes(row["response"]))

    async def remember(self, method: str, request_id: str, fingerprint: str, response: bytes) -> None:
        row = {
            "method": method,
            "request_id": request_id,
            "fingerprint": fingerprint,
            "response": response,
            "create_time": utcnow(),
        }
        try:
            await _REMEMBER.execute(self._conn, [row])
        except IntegrityError as exc:
            raise RequestIdTaken(request_id) from exc

    async def prune(self, older_than: dt.datetime) -> int:
        result = await self._conn.execute(
            delete(idempotency_keys).where(idempotency_keys.c.create_time < older_than)
        )
        return int(result.rowcount or 0)
