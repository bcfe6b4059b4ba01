"""The run's summary: counts, rates, latency percentiles, a histogram, codes and reasons."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from .cleanup import CleanupReport
from .plan import Plan
from .runner import RunResult
from .settle import Settled
from .stats import histogram, percentile
from .verify import Verification


@dataclass
class Summary:
    requested: int
    calls: int
    succeeded: int
    failed: int
    duplicates: int
    orphans: int | None
    elapsed_s: float
    creates_per_s: float
    calls_per_s: float
    latency_ms: dict[str, float]
    codes: dict[str, int]
    reasons: dict[str, int]
    resent: int
    resent_consistent: int
    collisions: int
    collisions_renamed: int
    pending: int
    verified: bool
    retried: int = 0  # calls that were a caller's retry of an order (same request_id)
    settled: Settled | None = None  # the wait for the service's sweep, if asked for
    verification: Verification | None = None
    cleanup: CleanupReport | None = None
    histogram: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "requested": self.requested,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "duplicates": self.duplicates,
            "orphans": self.orphans,
            "creates_per_s": round(self.creates_per_s, 2),
            "p50_ms": round(self.latency_ms["p50"], 2),
            "p95_ms": round(self.latency_ms["p95"], 2),
            "p99_ms": round(self.latency_ms["p99"], 2),
            "verified": self.verified,
            "calls": self.calls,
            "elapsed_s": round(self.elapsed_s, 3),
            "latency_ms": {k: round(v, 2) for k, v in self.latency_ms.items()},
            "codes": self.codes,
            "reasons": self.reasons,
            "resent": self.resent,
            "resent_consistent": self.resent_consistent,
            "collisions": self.collisions,
            "collisions_renamed": self.collisions_renamed,
            "pending": self.pending,
            "retried": self.retried,
        }
        if self.settled is not None:
            out["settle"] = {"waited_s": round(self.settled.waited_s, 2), "unsettled": self.settled.unsettled}
        if self.verification is not None:
            v = self.verification
            out["verification"] = {
                "failed_orders": v.failed_orders,
                "acked_not_active": v.acked_not_active,
                "passwords_not_given": v.passwords_not_given,
                "passwords_wrong": v.passwords_wrong,
                "passwords_checked": v.passwords_checked,
                "not_active_users": v.not_active_users,
                "unlimited_users": v.unlimited_users,
                "missing_users": v.missing_users,
                "mismatched": v.mismatched,
                "policy_problems": v.policy_problems,
                "checked_users": v.checked_users,
                "servers_checked": v.servers_checked,
                "problems": v.problems,
            }
            if v.foreign is not None:
                f = v.foreign
                out["verification"]["foreign"] = {
                    "seeded": f.seeded,
                    "checked": f.checked,
                    "modified": f.modified,
                    "write_calls": f.write_calls,
                }
        if self.cleanup is not None:
            c = self.cleanup
            out["cleanup"] = {
                "accounts": c.accounts,
                "terminated": c.terminated,
                "failures": dict(c.failures),
                "left_on_comet": c.left_on_comet,
                "foreign_modified": c.foreign_modified,
                "problems": c.problems,
            }
        return out

    def text(self) -> str:
        lat = self.latency_ms
        lines = [
            "Summary:",
            f"  Count:        {self.calls} calls ({self.requested} orders, {self.resent} re-sent, "
            f"{self.retried} retried)",
            f"  Total:        {self.elapsed_s:.2f} s",
            f"  Creates/s:    {self.creates_per_s:.2f}",
            f"  Calls/s:      {self.calls_per_s:.2f}",
            f"  Slowest:      {lat['max']:.2f} ms",
            f"  Fastest:      {lat['min']:.2f} ms",
            f"  Average:      {lat['avg']:.2f} ms",
            "",
            "Outcome:",
            f"  succeeded {self.succeeded}, failed {self.failed}, pending {self.pending}, "
            f"duplicates {self.duplicates}, orphans {'-' if self.orphans is None else self.orphans}",
            f"  re-sends answered with the original account: {self.resent_consistent}/{self.resent}",
            f"  username collisions renamed: {self.collisions_renamed}/{self.collisions}",
            "",
            "Response time histogram (ms):",
            *self.histogram,
            "",
            "Latency distribution:",
            *(f"  {q}% in {lat[f'p{q}']:.2f} ms" for q in (10, 25, 50, 75, 90, 95, 99)),
            "",
            "Status code distribution:",
            *(f"  [{code}] {n} responses" for code, n in sorted(self.codes.items(), key=lambda i: -i[1])),
        ]
        if self.reasons:
            lines += ["", "Error reasons:"]
            lines += [f"  [{reason}] {n}" for reason, n in sorted(self.reasons.items(), key=lambda i: -i[1])]
        if self.verification is not None:
            v = self.verification
            lines += [
                "",
                f"Verification on Comet ({v.servers_checked} servers, {v.checked_users} users): "
                + ("OK" if v.verified else "FAILED"),
                f"  failed orders {v.failed_orders}, duplicates {v.duplicates}, orphans {v.orphans}, "
                f"missing users {v.missing_users}, wrong quotas/policy {v.mismatched}, "
                f"policy group problems {v.policy_problems}",
                f"  generated passwords never handed over {v.passwords_not_given}, "
                f"not the Comet user's {v.passwords_wrong} (of {v.passwords_checked} compared)",
                f"  acknowledged orders not ACTIVE {v.acked_not_active}, "
                f"Comet users of accounts not ACTIVE {v.not_active_users}, "
                f"of which without the product's limits {v.unlimited_users}",
                *(
                    [
                        f"  foreign Comet users (there before, no account's) {v.foreign.checked}, "
                        f"of them seeded {v.foreign.seeded}; modified {v.foreign.modified}, "
                        f"calls that change a user aimed at them {v.foreign.write_calls}"
                    ]
                    if v.foreign is not None
                    else []
                ),
                *(f"  - {p}" for p in v.problems),
            ]
        if self.cleanup is not None:
            c = self.cleanup
            left = "not checked (no Comet credentials)" if c.left_on_comet is None else str(c.left_on_comet)
            lines += [
                "",
                f"Cleanup: terminated {c.terminated} of {c.accounts} accounts of this run: "
                + ("OK" if c.clean else "FAILED"),
                f"  Comet users of the run left on the servers: {left}",
                *(
                    [f"  foreign Comet users changed or deleted by then: {c.foreign_modified}"]
                    if c.foreign_modified is not None
                    else []
                ),
                *(f"  [{reason}] {n}" for reason, n in c.failures.most_common()),
                *(f"  - {p}" for p in c.problems),
            ]
        return "\n".join(lines)


def summarize(
    plan: Plan,
    result: RunResult,
    verification: Verification | None,
    cleanup: CleanupReport | None = None,
    settled: Settled | None = None,
) -> Summary:
    records = result.records
    by_order: dict[int, list[Any]] = defaultdict(list)
    for record in records:
        by_order[record.order_index].append(record)
    orders = plan.orders
    succeeded = pending = 0
    distinct_ids: dict[int, set[str]] = {}
    for order in orders:
        ok = [r for r in by_order.get(order.index, []) if r.code == "OK"]
        distinct_ids[order.index] = {r.account_id for r in ok}
        if ok:
            succeeded += 1
            pending += any(r.status == "ACCOUNT_STATUS_PENDING" for r in ok[:1])
    originals = {r.order_index: r for r in records if not r.duplicate and r.code == "OK"}
    resent = [r for r in records if r.duplicate and r.attempt == 0]
    # A re-send's outcome is its last attempt (records of one call are appended in order).
    resend_outcome = {r.order_index: r for r in records if r.duplicate}
    consistent = sum(
        1
        for r in resend_outcome.values()
        if r.code == "OK"
        and r.order_index in originals
        and originals[r.order_index].account_id == r.account_id
    )
    collisions = [o for o in orders if o.collides_with >= 0]
    renamed = sum(
        1
        for o in collisions
        if (ok := [r for r in by_order.get(o.index, []) if r.code == "OK"]) and ok[0].username != o.username
    )
    duplicates = sum(1 for ids in distinct_ids.values() if len(ids) > 1)
    if verification is not None:
        duplicates = max(duplicates, verification.duplicates)
    latencies = sorted(r.latency_s * 1000 for r in records)
    latency = {
        "min": latencies[0] if latencies else 0.0,
        "avg": sum(latencies) / len(latencies) if latencies else 0.0,
        "max": latencies[-1] if latencies else 0.0,
        **{f"p{q}": percentile(latencies, q) for q in (10, 25, 50, 75, 90, 95, 99)},
    }
    elapsed = max(result.elapsed_s, 1e-9)
    return Summary(
        requested=len(orders),
        calls=len(records),
        succeeded=succeeded,
        failed=len(orders) - succeeded,
        duplicates=duplicates,
        orphans=verification.orphans if verification is not None else None,
        elapsed_s=result.elapsed_s,
        creates_per_s=succeeded / elapsed,
        calls_per_s=len(records) / elapsed,
        latency_ms=latency,
        codes=dict(Counter(r.code for r in records)),
        reasons=dict(Counter(r.reason for r in records if r.code != "OK" and r.reason)),
        resent=len(resent),
        resent_consistent=consistent,
        collisions=len(collisions),
        collisions_renamed=renamed,
        pending=pending,
        verified=bool(verification is not None and verification.verified),
        retried=sum(1 for r in records if r.attempt > 0),
        settled=settled,
        verification=verification,
        cleanup=cleanup,
        histogram=histogram(latencies),
    )
