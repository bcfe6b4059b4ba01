"""Per-Comet-server admission: a few calls run, a bounded number wait, the rest are refused at once.

Each Comet server has a connection pool of `max_connections` sockets. Without a bound, a burst of
RPCs for one slow server would queue inside the pool until memory runs out and every caller's
deadline passes. `ServerCallLimiter` puts the queue in front of the pool where it can be counted:
up to `capacity(server_id)` RPCs do Comet work at once, up to `max_waiting` more wait in FIFO order,
and the next one gets RESOURCE_EXHAUSTED (reason COMET_SERVER_BUSY) without waiting.

Usage, around the Comet work of one RPC (not around each HTTP call)::

    async with limiter.slot(server_id):
        ...  # calls to the server's CometClient

A slot is re-entrant within one task: a nested `slot()` for the same server passes straight through,
so helpers may take a slot without deadlocking a caller that already holds one.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from comet_provisioning.core.errors import ErrorKind, ServiceError

__all__ = ["LaneSnapshot", "ServerCallLimiter", "server_busy"]

# The server ids whose slot the current task (and the tasks it spawns) already holds.
_HELD: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "comet_slots_held", default=frozenset()
)


def server_busy(server_id: str, max_waiting: int) -> ServiceError:
    return ServiceError(
        ErrorKind.RESOURCE_EXHAUSTED,
        "COMET_SERVER_BUSY",
        f"too many calls are waiting for Comet server {server_id!r}; retry later",
        metadata={"server_id": server_id, "max_waiting": str(max_waiting)},
    )


@dataclass(frozen=True)
class LaneSnapshot:
    active: int
    waiting: int


@dataclass
class _Lane:
    active: int = 0
    waiters: collections.deque[asyncio.Future[None]] = field(default_factory=collections.deque)


class ServerCallLimiter:
    """Bounds, per Comet server, the RPCs doing Comet work and the RPCs waiting to start it."""

    def __init__(self, max_waiting: int, capacity: int | Callable[[str], int] = 10) -> None:
        if max_waiting < 0:
            raise ValueError("max_waiting must not be negative")
        self.max_waiting = max_waiting
        self._capacity: Callable[[str], int]
        if callable(capacity):
            self._capacity = capacity
        else:
            fixed = capacity
            self._capacity = lambda _server_id: fixed
        self._lanes: dict[str, _Lane] = {}
        self.refused = 0  # total refusals, for tests and metrics

    def capacity(self, server_id: str) -> int:
        return max(1, self._capacity(server_id))

    def snapshot(self) -> dict[str, LaneSnapshot]:
        """Active and waiting RPCs per server (servers with neither are left out)."""
        return {
            server_id: LaneSnapshot(lane.active, sum(1 for w in lane.waiters if not w.done()))
            for server_id, lane in self._lanes.items()
        }

    @asynccontextmanager
    async def slot(self, server_id: str) -> AsyncIterator[None]:
        held = _HELD.get()
        if server_id in held:
            yield
            return
        await self._acquire(server_id)
        token = _HELD.set(held | {server_id})
        try:
            yield
        finally:
            _HELD.reset(token)
            self._release(server_id)

    async def _acquire(self, server_id: str) -> None:
        lane = self._lanes.setdefault(server_id, _Lane())
        if lane.active < self.capacity(server_id) and not lane.waiters:
            lane.active += 1
            return
        if len(lane.waiters) >= self.max_waiting:
            self.refused += 1
            raise server_busy(server_id, self.max_waiting)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane.waiters.append(waiter)
        try:
            await waiter  # resolved by _release, which hands its slot over (active unchanged)
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release(server_id)  # the slot arrived as we were cancelled: pass it on
            else:
                if waiter in lane.waiters:
                    lane.waiters.remove(waiter)
                self._forget_if_idle(server_id, lane)
            raise

    def _release(self, server_id: str) -> None:
        lane = self._lanes[server_id]
        if lane.active <= self.capacity(server_id):
            while lane.waiters:
                waiter = lane.waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        lane.active -= 1
        if lane.active < self.capacity(server_id) and lane.waiters:
            # capacity grew or a waiter was cancelled: admit as many as now fit
            while lane.waiters and lane.active < self.capacity(server_id):
                waiter = lane.waiters.popleft()
                if not waiter.done():
                    lane.active += 1
                    waiter.set_result(None)
        self._forget_if_idle(server_id, lane)

    def _forget_if_idle(self, server_id: str, lane: _Lane) -> None:
        if lane.active == 0 and not lane.waiters and self._lanes.get(server_id) is lane:
            del self._lanes[server_id]
