"""Faults during a load run: concurrent creates and lifecycle changes while the Comet server goes
down, turns slow, answers 502 HTML pages, resets connections and locks logins out.

Callers behave like a billing system: every call has a deadline; a failed call is retried with the
same request_id until it succeeds. While a fault lasts calls must fail fast and clearly
(UNAVAILABLE, DEADLINE_EXCEEDED, FAILED_PRECONDITION/ABORTED with a reason, never UNKNOWN/INTERNAL);
when it ends the service must recover by itself; and nothing a caller was told succeeded may be
lost: every acknowledged create is an ACTIVE account with exactly one Comet user, and every
account holds (in the store and on Comet) the last change acknowledged for it.

The simulator answers as one behaviour profile (how it words refusals, 403 for unknown users, a
proxy losing replies, a skewed clock), and some names the callers order belong to Comet users that
were there before (foreign): none of them may be adopted, changed or written to.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import grpc
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2

from tests.reliability.fuzz import reason_of
from tests.reliability.support import ForeignUsers, World, list_all

FAULTS = ("down", "slow", "http502", "reset", "lockout")
# Names the callers below order (usernames come from the e-mail) that a stranger holds already.
FOREIGN_NAMES = ("order2@example.com", "order7@example.com", "load4@example.com")
# What a caller may see while Comet misbehaves: retryable, or an operator-facing precondition.
CLEAR_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "FAILED_PRECONDITION", "ABORTED", "RESOURCE_EXHAUSTED"}


@dataclass
class Expected:
    """What the caller was last told about one account."""

    status: int = accounts_pb2.ACCOUNT_STATUS_ACTIVE
    devices: int = 2
    password: str = ""


@dataclass
class FaultReport:
    calls: int = 0
    ok: int = 0
    creates_acked: int = 0
    changes_acked: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # "CODE REASON" -> n
    failures_by_phase: dict[str, Counter[str]] = field(default_factory=dict)
    slowest_failure_s: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    # fault -> seconds from its end to the first success of a call begun after it ended
    recovery_s: dict[str, float] = field(default_factory=dict)
    faults_injected: dict[str, int] = field(default_factory=dict)
    accounts_verified: int = 0
    foreign_users: int = 0
    profile: str = "reference"
    lost: list[str] = field(default_factory=list)
    unclear: list[str] = field(default_factory=list)  # failures that were not clear errors

    def as_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "calls": self.calls,
            "ok": self.ok,
            "creates_acked": self.creates_acked,
            "changes_acked": self.changes_acked,
            "failures_seen_by_callers": dict(self.failures.most_common()),
            "failures_by_phase": {k: dict(v.most_common()) for k, v in self.failures_by_phase.items()},
            "slowest_failure_s": {k: round(v, 3) for k, v in self.slowest_failure_s.items()},
            "recovery_s": {k: round(v, 3) for k, v in self.recovery_s.items()},
            "faults_injected": self.faults_injected,
            "accounts_verified": self.accounts_verified,
            "foreign_users_untouched": self.foreign_users - sum("foreign user" in x for x in self.lost),
            "lost": len(self.lost),
            "lost_detail": self.lost[:20],
            "unclear_errors": self.unclear[:20],
        }


class FaultLoad:
    def __init__(
        self,
        world: World,
        *,
        phase_s: float = 1.5,
        create_workers: int = 6,
        change_workers: int = 6,
        pool_size: int = 24,
        call_timeout_s: float = 2.0,
        faults: tuple[str, ...] = FAULTS,
        seed: int = 7,
    ) -> None:
        self.world = world
        self.sim: CometSimulator = world.sim
        self.phase_s = phase_s
        self.create_workers = create_workers
        self.change_workers = change_workers
        self.pool_size = pool_size
        self.timeout = call_timeout_s
        self.faults = faults
        self.rng = random.Random(seed)
        self.report = FaultReport()
        self.phase = "baseline"
        self.stopping = False
        self.down = False
        self.cleared_at: dict[str, float] = {}
        self.acked_creates: dict[str, str] = {}  # request_id -> account id
        self.expected: dict[str, Expected] = {}
        self.request_ids = itertools.count()
        self.sim_port = int(self.sim.base_url.rsplit(":", 1)[1])
        self.report.profile = self.sim.behaviour.preset_name() or "custom"
        self.foreign: ForeignUsers | None = None

    # --- calls ---------------------------------------------------------------------------------

    async def until_ok(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """Retries `call` (the same request) until it succeeds, recording every failure."""
        while True:
            start = time.monotonic()
            self.report.calls += 1
            try:
                response = await call()
            except grpc.aio.AioRpcError as err:
                elapsed, phase = time.monotonic() - start, self.phase  # the phase it was seen in
                code, reason = err.code().name, reason_of(err)
                label = f"{code} {reason}".strip()
                self.report.failures[label] += 1
                self.report.failures_by_phase.setdefault(phase, Counter())[label] += 1
                slowest = self.report.slowest_failure_s
                slowest[phase] = max(slowest.get(phase, 0.0), elapsed)
                if code not in CLEAR_CODES or (code != "DEADLINE_EXCEEDED" and not reason):
                    self.report.unclear.append(f"{phase}: {label}: {err.details()}")
                await asyncio.sleep(0.05 + self.rng.random() * 0.05)
                continue
            self.report.ok += 1
            for fault, cleared in self.cleared_at.items():  # the first OK of a call begun after it
                if start >= cleared and fault not in self.report.recovery_s:
                    self.report.recovery_s[fault] = time.monotonic() - cleared
            return response

    def new_request_id(self, kind: str) -> str:
        return f"{kind}-{next(self.request_ids)}"

    async def create(self, index: int) -> str:
        request = accounts_pb2.CreateAccountRequest(
            request_id=self.new_request_id("create"),
            product_id=self.world.product_id,
            customer=accounts_pb2.Customer(email=f"load{index % 11}@example.com"),  # colliding names
            options={"number_of_devices": 2},
        )
        response = await self.until_ok(
            lambda: self.world.stubs.accounts.CreateAccount(request, timeout=self.timeout)
        )
        return str(response.account.id)

    async def creator(self) -> None:
        while not self.stopping:
            index = next(self.request_ids)
            request_id = f"order-{index}"
            request = accounts_pb2.CreateAccountRequest(
                request_id=request_id,
                product_id=self.world.product_id,
                customer=accounts_pb2.Customer(email=f"order{index % 13}@example.com"),
                options={"number_of_devices": 4},
            )
            response = await self.until_ok(
                lambda request=request: self.world.stubs.accounts.CreateAccount(request, timeout=self.timeout)
            )
            self.acked_creates[request_id] = response.account.id
            self.report.creates_acked += 1

    async def changer(self, accounts: list[str]) -> None:
        stub = self.world.stubs.accounts
        for account_id in itertools.cycle(accounts):
            if self.stopping:
                return
            expected = self.expected[account_id]
            choice = self.rng.random()
            request_id = self.new_request_id("change")
            if choice < 0.4:
                if expected.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE:
                    suspend = accounts_pb2.SuspendAccountRequest(
                        request_id=request_id, id=account_id, reason="load"
                    )
                    await self.until_ok(lambda r=suspend: stub.SuspendAccount(r, timeout=self.timeout))
                    expected.status = accounts_pb2.ACCOUNT_STATUS_SUSPENDED
                else:
                    lift = accounts_pb2.UnsuspendAccountRequest(request_id=request_id, id=account_id)
                    await self.until_ok(lambda r=lift: stub.UnsuspendAccount(r, timeout=self.timeout))
                    expected.status = accounts_pb2.ACCOUNT_STATUS_ACTIVE
            elif choice < 0.8:
                devices = self.rng.randint(1, 10)
                change = accounts_pb2.ChangePackageRequest(
                    request_id=request_id, id=account_id, options={"number_of_devices": devices}
                )
                await self.until_ok(lambda r=change: stub.ChangePackage(r, timeout=self.timeout))
                expected.devices = devices
            else:
                password = f"Load-pw-{request_id}-{self.rng.randrange(10**9)}"
                change_pw = accounts_pb2.ChangePasswordRequest(
                    request_id=request_id, id=account_id, new_password=password
                )
                await self.until_ok(lambda r=change_pw: stub.ChangePassword(r, timeout=self.timeout))
                expected.password = password
            self.report.changes_acked += 1

    # --- faults --------------------------------------------------------------------------------

    async def lock_out(self) -> None:
        """Login protection on, and one failed login from this machine (the service's source),
        sent again if a lossy proxy in front answered it before Comet saw it."""
        self.sim.faults.set_lockout(after_failures=1, cooldown_s=3600)
        failures = self.sim.counters.auth_failures
        async with aiohttp.ClientSession() as session:
            form = {"Username": "admin", "AuthType": "Password", "Password": "wrong-password"}
            for _ in range(10):
                async with session.post(self.sim.url("meta/version"), data=form) as reply:
                    await reply.read()
                if self.sim.counters.auth_failures > failures:
                    return
        raise AssertionError("the simulator never saw the failed login")

    async def inject(self, fault: str) -> None:
        faults = self.sim.faults
        if fault == "down":
            self.down = True
            await self.sim.stop()
        elif fault == "slow":
            faults.latency_ms = self.timeout * 1000 * 1.5
        elif fault == "http502":
            faults.add("*", "http502")
        elif fault == "reset":
            faults.add("*", "reset")
        elif fault == "lockout":
            await self.lock_out()
        else:
            raise ValueError(fault)

    async def clear(self, fault: str) -> None:
        if fault == "down":
            await self.sim.start(host="127.0.0.1", port=self.sim_port)
            self.down = False
        self.sim.faults.clear()

    # --- the run -------------------------------------------------------------------------------

    async def run(self) -> FaultReport:
        self.sim.counters.reset()
        self.foreign = ForeignUsers.seed(self.sim, FOREIGN_NAMES)
        self.report.foreign_users = len(FOREIGN_NAMES)
        pool = await asyncio.gather(*(self.create(i) for i in range(self.pool_size)))
        for account_id in pool:
            self.expected[account_id] = Expected()
        shares = [pool[i :: self.change_workers] for i in range(self.change_workers)]
        workers = [asyncio.create_task(self.creator()) for _ in range(self.create_workers)]
        workers += [asyncio.create_task(self.changer(share)) for share in shares if share]
        try:
            await asyncio.sleep(self.phase_s)
            for fault in self.faults:
                self.phase = fault
                await self.inject(fault)
                # Slow: long enough that calls begun in it run into their deadline in it.
                await asyncio.sleep(self.phase_s + (self.timeout if fault == "slow" else 0))
                await self.clear(fault)
                self.cleared_at[fault] = time.monotonic()
                self.phase = f"after-{fault}"
                await asyncio.sleep(self.phase_s + (self.timeout if fault == "slow" else 0))
            self.stopping = True
            await asyncio.wait_for(asyncio.gather(*workers), timeout=60)
        finally:
            self.stopping = True
            for worker in workers:
                worker.cancel()
            if self.down:  # a run cut short while "down"
                await self.clear("down")
            self.sim.faults.clear()
        # Connections refused while "down" leave no trace in the simulator: see failures_by_phase.
        self.report.faults_injected = {
            **dict(self.sim.counters.faults),
            "lockout": self.sim.counters.lockouts,
        }
        await self.verify()
        return self.report

    async def verify(self) -> None:
        listing = await list_all(self.world.stubs)
        accounts = {a.id: a for a in listing if a.product_id == self.world.product_id}
        lost = self.report.lost
        sim = self.sim
        for request_id, account_id in self.acked_creates.items():
            account = accounts.get(account_id)
            if account is None or account.status != accounts_pb2.ACCOUNT_STATUS_ACTIVE:
                lost.append(
                    f"create {request_id}: {account and accounts_pb2.AccountStatus.Name(account.status)}"
                )
                continue
            if account.username not in sim.state.users:
                lost.append(f"create {request_id}: no Comet user {account.username}")
            elif sim.counters.commits_for("add-user", account.username) != 1:
                lost.append(
                    f"create {request_id}: {sim.counters.commits_for('add-user', account.username)} add-user"
                )
            self.report.accounts_verified += 1
        for account_id, expected in self.expected.items():
            account = accounts.get(account_id)
            if account is None:
                lost.append(f"account {account_id} missing")
                continue
            user = sim.state.users.get(account.username)
            problems = []
            if account.status != expected.status:
                problems.append(f"store status {account.status} != {expected.status}")
            if account.options["number_of_devices"] != expected.devices:
                problems.append(f"store devices {account.options['number_of_devices']} != {expected.devices}")
            if user is None:
                problems.append("no Comet user")
            else:
                suspended = expected.status == accounts_pb2.ACCOUNT_STATUS_SUSPENDED
                if bool(user.profile.get("IsSuspended")) != suspended:
                    problems.append(f"Comet IsSuspended {user.profile.get('IsSuspended')} != {suspended}")
                if user.profile.get("MaximumDevices") != expected.devices:
                    problems.append(
                        f"Comet devices {user.profile.get('MaximumDevices')} != {expected.devices}"
                    )
                if expected.password and user.password != expected.password:
                    problems.append("Comet password is not the last one set")
            if problems:
                lost.append(f"account {account_id}: {'; '.join(problems)}")
            self.report.accounts_verified += 1
        # No duplicate or orphan Comet users: exactly the store's live accounts' usernames, and the
        # foreign users as they were.
        live = {a.username for a in listing if a.status != accounts_pb2.ACCOUNT_STATUS_TERMINATED}
        foreign = set(FOREIGN_NAMES)
        if live & foreign:
            lost.append(f"foreign users adopted by an account: {sorted(live & foreign)}")
        assert self.foreign is not None
        lost.extend(self.foreign.changes())
        orphans = set(sim.state.users) - live - foreign
        missing = live - set(sim.state.users)
        if orphans:
            lost.append(f"orphan Comet users: {sorted(orphans)[:5]}")
        if missing:
            lost.append(f"accounts without a Comet user: {sorted(missing)[:5]}")
