"""Fault injection: what goes wrong, where, how often.

A fault plan is a list of rules plus a few global knobs (latency, lockout, forced hash conflicts).
Rules match an endpoint by glob (`add-user`, `branding/*`, `*`) and optionally one TargetUser, fire
with a probability drawn from one seeded `random.Random`, and can be limited to the next N matches.
`after_commit` rules let the handler's side effect happen and then lose the reply, which is how
tests reproduce "add-user succeeded but the client never heard".
"""

from __future__ import annotations

import fnmatch
import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FAULT_KINDS", "FaultRule", "Faults", "LockoutConfig"]

# http502: proxy answer with an HTML body; http500: bare server error; status500: HTTP 200 with body
# {"Status":500}; reset: abort the TCP connection; hang: never answer (until hang_s or stop);
# delay: extra latency (delay_ms) then the normal reply.
FAULT_KINDS = ("http502", "http500", "status500", "reset", "hang", "delay")


@dataclass
class FaultRule:
    endpoint: str = "*"
    kind: str = "http502"
    rate: float = 1.0
    count: int | None = None
    after_commit: bool = False
    target_user: str | None = None
    delay_ms: float = 0.0
    hang_s: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if self.count is not None and self.count < 0:
            raise ValueError("count must be >= 0")

    def applies_to(self, endpoint: str, target_user: str | None, after_commit: bool) -> bool:
        if self.after_commit != after_commit or self.count == 0:
            return False
        if self.target_user is not None and self.target_user != target_user:
            return False
        return fnmatch.fnmatchcase(endpoint, self.endpoint)


@dataclass
class LockoutConfig:
    """Login protection: after `after_failures` bad logins from one source, refuse for `cooldown_s`."""

    after_failures: int
    cooldown_s: float = 60.0


@dataclass
class _LockoutTracker:
    failures: dict[str, int] = field(default_factory=dict)
    locked_until: dict[str, float] = field(default_factory=dict)


class Faults:
    """The active fault plan, mutable in-process or through `POST /__sim__/faults`."""

    def __init__(self, seed: int | None = None, *, latency_ms: float = 0.0, jitter_ms: float = 0.0) -> None:
        self._seed = seed
        # The baseline latency (from the constructor / CLI) survives clear(): it is the server's
        # normal speed, not a fault.
        self.base_latency_ms = latency_ms
        self.base_jitter_ms = jitter_ms
        self.rng = random.Random(seed)
        self.clear()

    def clear(self) -> None:
        """Back to a well-behaved server at baseline latency; the random stream is reseeded."""
        self.rng.seed(self._seed)
        self.rules: list[FaultRule] = []
        self.latency_ms = self.base_latency_ms
        self.jitter_ms = self.base_jitter_ms
        self.lockout: LockoutConfig | None = None
        self.hash_conflicts = 0
        self.default_hang_s = 3600.0
        self._lockouts = _LockoutTracker()
        self._proxy_calls = 0
        self._proxy_fired = 0

    def reseed(self, seed: int | None) -> None:
        self._seed = seed
        self.rng.seed(seed)

    # --- configuring -----------------------------------------------------------------------

    def add(
        self,
        endpoint: str = "*",
        kind: str = "http502",
        *,
        rate: float = 1.0,
        count: int | None = None,
        after_commit: bool = False,
        target_user: str | None = None,
        delay_ms: float = 0.0,
        hang_s: float | None = None,
    ) -> FaultRule:
        rule = FaultRule(endpoint, kind, rate, count, after_commit, target_user, delay_ms, hang_s)
        self.rules.append(rule)
        return rule

    def fail_after_commit(
        self, endpoint: str, kind: str = "http502", *, count: int | None = 1, target_user: str | None = None
    ) -> FaultRule:
        """Let the side effect happen, then lose the reply (`http502` or `reset`)."""
        return self.add(endpoint, kind, count=count, after_commit=True, target_user=target_user)

    def set_lockout(self, after_failures: int | None, cooldown_s: float = 60.0) -> None:
        self.lockout = LockoutConfig(after_failures, cooldown_s) if after_failures else None
        self._lockouts = _LockoutTracker()

    def force_hash_conflicts(self, n: int) -> None:
        """The next `n` set-user-profile-hash calls find the profile changed under them."""
        self.hash_conflicts = n

    def configure(self, config: dict[str, Any], *, replace: bool = True) -> None:
        """Apply a JSON fault plan (the body of `POST /__sim__/faults`)."""
        if replace:
            seed = config.get("seed", self._seed)
            self._seed = seed
            self.clear()
        elif "seed" in config:
            self.reseed(config["seed"])
        self.latency_ms = float(config.get("latency_ms", self.latency_ms))
        self.jitter_ms = float(config.get("jitter_ms", self.jitter_ms))
        self.hash_conflicts = int(config.get("hash_conflicts", self.hash_conflicts))
        self.default_hang_s = float(config.get("default_hang_s", self.default_hang_s))
        if "lockout" in config:
            lock = config["lockout"]
            if lock:
                self.set_lockout(int(lock["after_failures"]), float(lock.get("cooldown_s", 60.0)))
            else:
                self.set_lockout(None)
        for raw in config.get("rules", []):
            self.rules.append(FaultRule(**raw))

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self._seed,
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "hash_conflicts": self.hash_conflicts,
            "default_hang_s": self.default_hang_s,
            "lockout": asdict(self.lockout) if self.lockout else None,
            "rules": [asdict(rule) for rule in self.rules],
        }

    # --- deciding --------------------------------------------------------------------------

    def latency_s(self) -> float:
        if self.latency_ms <= 0 and self.jitter_ms <= 0:
            return 0.0
        jitter = self.rng.uniform(0.0, self.jitter_ms) if self.jitter_ms > 0 else 0.0
        return max(0.0, self.latency_ms + jitter) / 1000.0

    def pick(self, endpoint: str, target_user: str | None, *, after_commit: bool) -> list[FaultRule]:
        """The rules that fire for this call: every matching `delay`, then at most one failure."""
        fired: list[FaultRule] = []
        failure_chosen = False
        for rule in self.rules:
            if not rule.applies_to(endpoint, target_user, after_commit):
                continue
            if rule.kind != "delay" and failure_chosen:
                continue
            if rule.rate < 1.0 and self.rng.random() >= rule.rate:
                continue
            if rule.count is not None:
                rule.count -= 1
            fired.append(rule)
            if rule.kind != "delay":
                failure_chosen = True
        return fired

    def proxy_pick(self, every: int, after_fraction: float) -> FaultRule | None:
        """A reverse proxy that answers every `every`-th admin call with an HTML 502.

        Of those 502s, `after_fraction` come after Comet processed the call (its effect happened,
        the reply is lost) and the rest before (no effect). The split is spread evenly and
        deterministically: at 0.5 they alternate before, after, before, ...
        """
        if every <= 0:
            return None
        self._proxy_calls += 1
        if self._proxy_calls % every:
            return None
        fired = self._proxy_fired
        self._proxy_fired += 1
        after = math.floor((fired + 1) * after_fraction) > math.floor(fired * after_fraction)
        return FaultRule("*", "http502", after_commit=after)

    def take_hash_conflict(self) -> bool:
        if self.hash_conflicts > 0:
            self.hash_conflicts -= 1
            return True
        return False

    # --- login protection ------------------------------------------------------------------

    def is_locked(self, source: str, now: float) -> bool:
        until = self._lockouts.locked_until.get(source)
        if until is None:
            return False
        if now >= until:
            del self._lockouts.locked_until[source]
            self._lockouts.failures.pop(source, None)
            return False
        return True

    def record_login_failure(self, source: str, now: float) -> None:
        if self.lockout is None:
            return
        n = self._lockouts.failures.get(source, 0) + 1
        self._lockouts.failures[source] = n
        if n >= self.lockout.after_failures:
            self._lockouts.locked_until[source] = now + self.lockout.cooldown_s

    def record_login_success(self, source: str) -> None:
        self._lockouts.failures.pop(source, None)
