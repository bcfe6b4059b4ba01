"""Idempotent mutations (AIP-155) in the service's terms, over `store.idempotency`.

The caller supplies the serialized request (for the fingerprint) and a `work(conn)` that performs
the write and returns the serialized response; both commit together with the idempotency record.
"""

from __future__ import annotations

from comet_provisioning.crypto import SecretBox
from comet_provisioning.store import Database, RequestIdReused, run_once
from comet_provisioning.store.idempotency import Work

from .errors import ErrorKind, FieldViolation, ServiceError, Violations

__all__ = ["REQUEST_ID_MAX", "once"]

REQUEST_ID_MAX = 200


async def once(
    db: Database, box: SecretBox, method: str, request_id: str, request_bytes: bytes, work: Work
) -> bytes:
    """`work`'s response, at most once per (method, request_id); REQUEST_ID_REUSED on a mismatch."""
    if len(request_id) > REQUEST_ID_MAX or any(ord(ch) < 33 for ch in request_id):
        violations = Violations()
        violations.add("request_id", f"at most {REQUEST_ID_MAX} printable characters without spaces")
        violations.raise_if_any()
    fingerprint = box.fingerprint(method.encode() + b"\x00" + request_bytes) if request_id else ""
    try:
        return await run_once(db, method, request_id, fingerprint, work)
    except RequestIdReused as exc:
        raise ServiceError(
            ErrorKind.INVALID_ARGUMENT,
            "REQUEST_ID_REUSED",
            str(exc),
            metadata={"method": method, "request_id": request_id},
            violations=[FieldViolation("request_id", "already used for a different request")],
        ) from exc
