"""The `idempotency_keys` table: the first successful outcome of (method, request id), written in
the same transaction as the change it describes (see core/request_ids.py)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.core.request_records import RequestIdTaken, StoredResponse

from .prepared import PreparedSelect, PreparedWrite
from .schema import idempotency_keys
from .types import utcnow

__all__ = ["SqlRequestRecords"]

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

    async def lookup(self, method: str, request_id: str) -> StoredResponse | None:
        row = await _LOOKUP.first(self._conn, {"method": method, "request_id": request_id})
        return None if row is None else StoredResponse(row["fingerprint"], bytes(row["response"]))

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
