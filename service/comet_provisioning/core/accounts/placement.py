"""Which server of a group a new account goes to.

Two rules: *least accounts* (the server holding the fewest accounts; `max_accounts` is only a cap,
so a server with a limit of 1,000 and 29 accounts comes before an unlimited one with 38) and *fill
in order* (the first server by placement order that is not full). Ties go by placement order, then
id. Full and draining servers never take a new account. A server known to be down (its breaker
open) comes after every other one: tried only when no other server can take the account, because
the breaker is this process's recent memory, not proof; trying costs no more than it did without
it, and a refusal with nothing tried would turn a stale verdict into an outage. The result is an
ordered list, so that with failover on, the next candidate is tried when one is unreachable.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

__all__ = ["Candidate", "rank", "why_none"]


@dataclass(frozen=True)
class Candidate:
    server_id: str
    account_count: int
    max_accounts: int  # 0: no limit
    placement_order: int
    draining: bool = False
    down: bool = False  # the breaker says unreachable (DOWN, or a probe in flight)

    @property
    def full(self) -> bool:
        return self.max_accounts > 0 and self.account_count >= self.max_accounts

    @property
    def open(self) -> bool:
        """May take a new account at all."""
        return not self.full and not self.draining


def rank(candidates: Sequence[Candidate], rule: str) -> list[Candidate]:
    """Servers that can take an account, best first. `rule` is LEAST_ACCOUNTS or FILL_IN_ORDER."""
    open_servers = [c for c in candidates if c.open]
    if rule == "FILL_IN_ORDER":
        return sorted(open_servers, key=lambda c: (c.down, c.placement_order, c.server_id))
    return sorted(open_servers, key=lambda c: (c.down, c.account_count, c.placement_order, c.server_id))


def why_none(candidates: Sequence[Candidate], tried: Collection[str] = ()) -> str:
    """Why no server of a group can take an account (`tried`: servers that already failed it)."""
    if not candidates:
        return "the group has no servers"
    counts = {"full": 0, "draining": 0, "unreachable": 0}
    for c in candidates:
        if c.full:
            counts["full"] += 1
        elif c.draining:
            counts["draining"] += 1
        elif c.server_id in tried:
            counts["unreachable"] += 1
    return ", ".join(f"{count} {what}" for what, count in counts.items() if count)
