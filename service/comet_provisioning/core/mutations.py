"""Writes named by a request id, for work that may ask Comet before it writes (a connection test, a
product's settings): on top of RequestIds (core/request_ids.py), which owns the rule, the record
and the replay."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import ServiceError
from .request_ids import RequestIds, Work

__all__ = ["Mutation", "Mutations"]

C = TypeVar("C")


@dataclass(frozen=True)
class Mutation:
    """One mutating request, as its request id's record knows it."""

    method: str  # the full RPC name: one request id per method
    request_id: str
    # The request without its request id, serialized deterministically (for the fingerprint).
    body: bytes = field(repr=False)


class Mutations:
    def __init__(self, request_ids: RequestIds) -> None:
        self._ids = request_ids

    def _fingerprint(self, mutation: Mutation) -> str:
        return self._ids.fingerprint(mutation.method, mutation.body)

    async def _replayed(self, mutation: Mutation) -> bool:
        done = await self._ids.replay(mutation.method, mutation.request_id, self._fingerprint(mutation))
        return done is not None

    async def unless_replayed(self, mutation: Mutation, check: Callable[[], Awaitable[C]]) -> C | None:
        """`check()`, run before the write because it talks to Comet and must not hold a
        transaction open; None when the request id already has an outcome (the write then
        replays it). A check that fails because a concurrent twin of the request won meanwhile
        yields to the twin."""
        self._ids.check(mutation.request_id)
        if await self._replayed(mutation):
            return None
        try:
            return await check()
        except ServiceError:
            if await self._replayed(mutation):
                return None
            raise

    async def run(self, mutation: Mutation, work: Work) -> bytes:
        """`work`'s response, at most once per request id, in one transaction with its record."""
        return await self._ids.run(mutation.method, mutation.request_id, self._fingerprint(mutation), work)
