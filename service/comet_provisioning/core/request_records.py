"""What request-id idempotency (AIP-155) needs from persistence: the outcome of a request, kept
under (method, request id) with a fingerprint of the request it answered."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

__all__ = ["RequestIdTaken", "RequestRecords", "StoredResponse"]


class RequestIdTaken(Exception):
    """(method, request id) already has an outcome: a concurrent twin of the request won."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"request id {request_id!r} already has an outcome")
        self.request_id = request_id


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    response: bytes


class RequestRecords(Protocol):
    async def lookup(self, method: str, request_id: str) -> StoredResponse | None: ...

    async def remember(self, method: str, request_id: str, fingerprint: str, response: bytes) -> None:
        """RequestIdTaken when (method, request id) already has an outcome (a twin won)."""
        ...

    async def prune(self, older_than: dt.datetime) -> int: ...
