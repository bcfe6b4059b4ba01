"""What the simulator saw: calls per endpoint and per (endpoint, TargetUser), outcomes, injected
faults, and TCP connections (open now and the peak).

Tests assert on these instead of on what their own client thinks it did: "add-user ran exactly once
for alice", "the pool never held more than 10 connections", and, with `snapshot()` / `since()`,
"this operation made exactly these Comet calls".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = ["CallSnapshot", "Counters", "CountersReset"]


class CountersReset(ValueError):
    """The counters were reset after the snapshot was taken, so a difference means nothing."""


@dataclass(frozen=True)
class CallSnapshot:
    """Calls per endpoint at one moment (a copy: later calls do not change it)."""

    calls: Mapping[str, int]
    generation: int


class Counters:
    """Plain counters; everything runs on one event loop so no locking is needed."""

    def __init__(self) -> None:
        self.open_connections = 0
        self.generation = 0
        self.reset()

    def reset(self) -> None:
        """Zero everything except the connections open right now (the peak restarts from them)."""
        self.calls: Counter[str] = Counter()
        self.calls_by_target: Counter[tuple[str, str]] = Counter()
        self.committed: Counter[str] = Counter()
        self.committed_by_target: Counter[tuple[str, str]] = Counter()
        self.faults: Counter[str] = Counter()
        self.auth_failures = 0
        self.lockouts = 0
        self.total_connections = 0
        self.peak_connections = self.open_connections
        self.in_flight = 0
        self.peak_in_flight = 0
        self.bytes_streamed = 0
        self.chunks_streamed = 0
        self.generation += 1
        # Snapshots kept by name for the control API (in-process callers hold their own).
        self.marks: dict[str, CallSnapshot] = {}

    # --- recording -------------------------------------------------------------------------

    def connection_opened(self) -> None:
        self.open_connections += 1
        self.total_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)

    def connection_closed(self) -> None:
        self.open_connections = max(0, self.open_connections - 1)

    def call(self, endpoint: str, target_user: str | None) -> None:
        self.calls[endpoint] += 1
        if target_user is not None:
            self.calls_by_target[(endpoint, target_user)] += 1

    def commit(self, endpoint: str, target_user: str | None) -> None:
        """A handler ran and reported success (whether or not the reply reached the client)."""
        self.committed[endpoint] += 1
        if target_user is not None:
            self.committed_by_target[(endpoint, target_user)] += 1

    def request_started(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def request_finished(self) -> None:
        self.in_flight -= 1

    # --- reading ---------------------------------------------------------------------------

    def snapshot(self) -> CallSnapshot:
        """Calls per endpoint now; costs one copy of a dict with one entry per endpoint."""
        return CallSnapshot(MappingProxyType(dict(self.calls)), self.generation)

    def since(self, snapshot: CallSnapshot) -> dict[str, int]:
        """{endpoint: calls made since `snapshot`}, only endpoints that were called."""
        if snapshot.generation != self.generation:
            raise CountersReset("the counters were reset after this snapshot")
        before = snapshot.calls
        return {ep: n - before.get(ep, 0) for ep, n in self.calls.items() if n != before.get(ep, 0)}

    def calls_for(self, endpoint: str, target_user: str) -> int:
        return self.calls_by_target[(endpoint, target_user)]

    def commits_for(self, endpoint: str, target_user: str) -> int:
        return self.committed_by_target[(endpoint, target_user)]

    @staticmethod
    def _nest(counter: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (endpoint, target), n in counter.items():
            out.setdefault(endpoint, {})[target] = n
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "calls_by_target": self._nest(self.calls_by_target),
            "committed": dict(self.committed),
            "committed_by_target": self._nest(self.committed_by_target),
            "faults": dict(self.faults),
            "auth_failures": self.auth_failures,
            "lockouts": self.lockouts,
            "open_connections": self.open_connections,
            "peak_connections": self.peak_connections,
            "total_connections": self.total_connections,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "bytes_streamed": self.bytes_streamed,
            "chunks_streamed": self.chunks_streamed,
        }
