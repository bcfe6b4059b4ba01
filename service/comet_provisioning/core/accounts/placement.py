"""Which server of a group a new account goes to.

Two rules: *least accounts* (the smallest share of each server's maximum; unlimited servers count
their accounts against a notional 10,000) and *fill in order* (the first server by placement order
that is not full). Full servers are skipped. The result is an ordered list, so that with failover
on, the next candidate is tried when one is unreachable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

UNLIMITED_NOTIONAL_MAX = 10_000


@dataclass(frozen=True)
class Candidate:
    server_id: str
    account_count: int
    max_accounts: int  # 0: no limit
    placement_order: int

    @property
    def full(self) -> bool:
        return self.max_accounts > 0 and self.account_count >= self.max_accounts

    @property
    def share(self) -> float:
        return self.account_count / (self.max_accounts or UNLIMITED_NOTIONAL_MAX)


def rank(candidates: Sequence[Candidate], rule: str) -> list[Candidate]:
    """Servers that can take an account, best first. `rule` is LEAST_ACCOUNTS or FILL_IN_ORDER."""
    open_servers = [c for c in candidates if not c.full]
    if rule == "FILL_IN_ORDER":
        return sorted(open_servers, key=lambda c: (c.placement_order, c.server_id))
    return sorted(open_servers, key=lambda c: (c.share, c.placement_order, c.server_id))
