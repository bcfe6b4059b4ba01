"""Running a request's work alone on an account: first its request id's recorded outcome (a replay
needs nothing else), then the account's guard, then a place in its server's queue, so calls that
wait for the same account hold no server capacity. The caller's deadline bounds the waits and the
Comet calls alike."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from comet_provisioning.core.limits import ServerCallLimiter
from comet_provisioning.core.request_ids import RequestIds

from .errors import deadline_passed
from .leases import AccountGuard, HeldAccount
from .queries import AccountQueries

__all__ = ["Exclusive", "Work"]

Work = Callable[[HeldAccount], Awaitable[bytes]]


class Exclusive:
    def __init__(self, queries: AccountQueries, guard: AccountGuard, request_ids: RequestIds) -> None:
        self._queries = queries
        self._guard = guard
        self._request_ids = request_ids
        # Bounds RPCs waiting for one Comet server (set by the app; None: unbounded).
        self.limiter: ServerCallLimiter | None = None

    def slot(self, server_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """A place in the server's queue: COMET_SERVER_BUSY at once when too many already wait."""
        if self.limiter is None or not server_id:
            return contextlib.nullcontext()
        return self.limiter.slot(server_id)

    async def run(
        self,
        account_id: str,
        method: str,
        request_id: str,
        fingerprint: str,
        work: Work,
        *,
        timeout_s: float | None = None,
    ) -> bytes:
        """`work`'s serialized response, at most once per request id (only successes are kept)."""
        account = await self._queries.load(account_id)  # NOT_FOUND before waiting for anything
        try:
            async with asyncio.timeout(timeout_s):
                done = await self._request_ids.replay(method, request_id, fingerprint)
                if done is not None:
                    return done
                async with self._guard.hold(account_id) as held:
                    done = await self._request_ids.replay(method, request_id, fingerprint)
                    if done is not None:
                        return done
                    async with self.slot(account.server_id):
                        response = await work(held)
                    await self._request_ids.remember(method, request_id, fingerprint, response)
                    return response
        except TimeoutError as exc:
            raise deadline_passed(account_id) from exc
