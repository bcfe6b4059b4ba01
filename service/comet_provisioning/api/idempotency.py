"""AIP-155 for servicers: fingerprint the request, run the write once, replay the stored response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.core.errors import ServiceError
from comet_provisioning.core.idempotency import once
from comet_provisioning.crypto import SecretBox
from comet_provisioning.store import Database
from comet_provisioning.store.idempotency import lookup

__all__ = ["fingerprint_bytes", "idempotent", "replayed", "unless_replayed"]

M = TypeVar("M", bound=Message)
T = TypeVar("T")


def fingerprint_bytes(request: Message) -> bytes:
    clone: Any = type(request)()
    clone.CopyFrom(request)
    if clone.DESCRIPTOR.fields_by_name.get("request_id") is not None:
        clone.ClearField("request_id")
    data: bytes = clone.SerializeToString(deterministic=True)
    return data


async def idempotent(
    db: Database,
    box: SecretBox,
    method: str,
    request: Message,
    response_type: type[M],
    work: Callable[[AsyncConnection], Awaitable[M]],
) -> M:
    """Run `work` in one transaction with the idempotency record for `request.request_id`.

    `method` is the full gRPC method name. Only successful responses are remembered; an error
    leaves nothing behind, so a retry simply runs again.
    """

    async def run(conn: AsyncConnection) -> bytes:
        response = await work(conn)
        data: bytes = response.SerializeToString(deterministic=True)
        return data

    request_id: str = getattr(request, "request_id", "")
    data = await once(db, box, method, request_id, fingerprint_bytes(request), run)
    return response_type.FromString(data)


async def replayed(db: Database, method: str, request_id: str) -> bool:
    """Whether (method, request_id) already has an outcome."""
    if not request_id:
        return False
    async with db.read() as conn:
        return await lookup(conn, method, request_id) is not None


async def unless_replayed(
    db: Database, method: str, request_id: str, check: Callable[[], Awaitable[T]]
) -> T | None:
    """`check()`, run before the write because it talks to Comet (a connection test, a product's
    settings); None when the request id already has an outcome, which is then replayed. A check
    that fails because a concurrent twin of the request won meanwhile yields to the twin."""
    if await replayed(db, method, request_id):
        return None
    try:
        return await check()
    except ServiceError:
        if await replayed(db, method, request_id):
            return None
        raise
