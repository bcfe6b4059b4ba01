"""Crash and replicas, at a size that gives figures (tests/accounts/test_processes.py has the small
versions): the service as real processes (`comet-provisioning serve`), a simulator in this process.

Crash: N creates in flight, SIGKILL once a third of them reached Comet, restart on the same data,
let the start-up sweep converge, then callers re-send everything with the same request ids. Every
create acknowledged before the kill must be the same ACTIVE account afterwards; every order ends
as exactly one account with exactly one Comet user (one add-user commit, one vault); no orphans;
and every order (placed without a password) got its generated password in some reply, the one its
Comet user has, whoever finished it.

Replicas: two processes on one PostgreSQL. Every order goes to both at once (the same request id).
Then rounds of concurrent changes to the same accounts through both replicas: a ChangePackage on
one and a Suspend/Unsuspend on the other (disjoint fields: both must survive, or an update was
lost), a ChangePackage on each (either may win, but Comet and the store must agree), and a last
change through one replica whose value must be exactly what Comet and the store hold.

Both run against a simulator answering as one behaviour profile (`behaviour=`), with Comet users
that were there before the first order under some of the names the orders ask for (foreign): none
may be adopted, changed or written to.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2

from tests.fixtures.db import fresh_postgres_database
from tests.fixtures.service import ServiceProcess, free_port, new_secret_key, service_env
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD
from tests.reliability.fuzz import reason_of
from tests.reliability.support import ForeignUsers, Stubs, list_all, setup_catalog

RETRYABLE = {"UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED"}
# Names the orders below ask for (from their e-mail) that a stranger's Comet user holds already.
FOREIGN_NAMES = ("user3@example.com", "user11@example.com")
# The sweep every half second and a first retry after 0.2 s: a test waits for it, not a person.
FAST_SWEEP = {
    "COMET_PROVISIONING_RESUME_INTERVAL_S": "0.5",
    "COMET_PROVISIONING_PROVISION_RETRY_DELAY_S": "0.2",
}
ACTIVE, SUSPENDED = accounts_pb2.ACCOUNT_STATUS_ACTIVE, accounts_pb2.ACCOUNT_STATUS_SUSPENDED


@dataclass
class ProcessReport:
    calls: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    acked: int = 0
    accounts_verified: int = 0
    lost: list[str] = field(default_factory=list)
    # Orders whose generated password no reply carried (or not the Comet user's): lost too, kept
    # apart because the core loses one when the reply of the run that activates the account never
    # leaves (a deadline, a crash): see test_password_handover.py.
    passwords_lost: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "acked": self.acked,
            "failures_seen_by_callers": dict(self.failures.most_common()),
            "accounts_verified": self.accounts_verified,
            "lost": len(self.lost) + len(self.passwords_lost),
            "lost_detail": (self.lost + self.passwords_lost)[:20],
            **self.extra,
        }


class Caller:
    """Counts every call and failure; retries (same request) on what a retry can fix."""

    def __init__(self, report: ProcessReport, timeout: float = 30.0) -> None:
        self.report = report
        self.timeout = timeout

    async def once(self, call: Callable[[], Awaitable[Any]]) -> Any | grpc.aio.AioRpcError:
        self.report.calls += 1
        try:
            return await call()
        except grpc.aio.AioRpcError as err:
            self.report.failures[f"{err.code().name} {reason_of(err)}".strip()] += 1
            return err

    async def until_ok(self, call: Callable[[], Awaitable[Any]], attempts: int = 200) -> Any:
        for _ in range(attempts):
            result = await self.once(call)
            if not isinstance(result, grpc.aio.AioRpcError):
                return result
            if result.code().name not in RETRYABLE:
                raise AssertionError(f"not retryable: {result.code().name} {result.details()}")
            await asyncio.sleep(0.1)
        raise AssertionError("never succeeded")


def order(i: int, product_id: str) -> accounts_pb2.CreateAccountRequest:
    return accounts_pb2.CreateAccountRequest(
        request_id=f"order-{i}",
        product_id=product_id,
        customer=accounts_pb2.Customer(email=f"user{i % 17}@example.com"),  # colliding names
        options={"number_of_devices": 2},
    )


def check_comet(
    sim: CometSimulator, accounts: list[accounts_pb2.Account], lost: list[str], foreign: ForeignUsers
) -> None:
    """One Comet user per account, each added once with one vault; no orphan, no duplicate; the
    foreign users untouched and no account's."""
    names = [a.username for a in accounts if a.status != accounts_pb2.ACCOUNT_STATUS_TERMINATED]
    if len(set(names)) != len(names):
        lost.append(f"duplicate usernames: {[n for n, c in Counter(names).items() if c > 1][:5]}")
    adopted = set(names) & set(foreign.names)
    if adopted:
        lost.append(f"foreign users adopted by an account: {sorted(adopted)}")
    lost.extend(foreign.changes())
    others = set(sim.state.users) - set(foreign.names)
    orphans, missing = others - set(names), set(names) - set(sim.state.users)
    if orphans:
        lost.append(f"orphan Comet users: {sorted(orphans)[:5]}")
    if missing:
        lost.append(f"accounts without a Comet user: {sorted(missing)[:5]}")
    for name in set(names) & set(sim.state.users):
        if sim.counters.commits_for("add-user", name) != 1:
            lost.append(f"{name}: add-user committed {sim.counters.commits_for('add-user', name)} times")
        if len(sim.state.users[name].profile.get("Destinations", {})) != 1:
            lost.append(f"{name}: {len(sim.state.users[name].profile.get('Destinations', {}))} vaults")


def check_passwords(
    sim: CometSimulator,
    accounts: list[accounts_pb2.Account],
    ids: list[str],
    passwords: dict[int, str],
    report: ProcessReport,
) -> None:
    """Each order (placed without a password) got its generated password once: the Comet user's."""
    by_id = {a.id: a for a in accounts}
    given = 0
    for i, account_id in enumerate(ids):
        account = by_id.get(account_id)
        user = sim.state.users.get(account.username) if account is not None else None
        if i not in passwords:
            report.passwords_lost.append(f"order-{i}: no reply carried its generated password")
        elif user is None or user.password != passwords[i]:
            report.passwords_lost.append(f"order-{i}: the password handed over is not the Comet user's")
        else:
            given += 1
    report.extra["passwords_handed_over"] = given


def fresh_channel(address: str) -> grpc.aio.Channel:
    """A channel with its own subchannels: the process-wide pool would hand a channel opened after a
    restart the killed process's subchannel, still backing off, and fail it at once."""
    return grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def new_process(data_dir: Path, **env: str) -> ServiceProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    return ServiceProcess(
        f"127.0.0.1:{free_port()}", data_dir, data_dir / "service.log", service_env(data_dir, **env)
    )


# --- crash ---------------------------------------------------------------------------------------


async def crash_scenario(
    work_dir: Path, *, creates: int = 300, concurrency: int = 60, behaviour: str = "reference"
) -> ProcessReport:
    report = ProcessReport(extra={"profile": behaviour})
    caller = Caller(report)
    sim = CometSimulator(
        admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD, seed=99, latency_ms=20, behaviour=behaviour
    )
    await sim.start(host="127.0.0.1", port=0)
    foreign = ForeignUsers.seed(sim, FOREIGN_NAMES)
    service = new_process(work_dir / "crash", COMET_PROVISIONING_ACCOUNT_LEASE_S="2", **FAST_SWEEP)
    try:
        await asyncio.to_thread(service.start)
        async with fresh_channel(service.address) as channel:
            stubs = Stubs.on(channel)
            _, _, product_id = await setup_catalog(stubs, sim)
            gate = asyncio.Semaphore(concurrency)

            async def send(i: int) -> Any:
                async with gate:
                    return await caller.once(
                        lambda: stubs.accounts.CreateAccount(order(i, product_id), timeout=60)
                    )

            batch = [asyncio.ensure_future(send(i)) for i in range(creates)]
            while len(sim.state.users) < creates // 3 + len(FOREIGN_NAMES):
                await asyncio.sleep(0.01)
            service.signal(signal.SIGKILL)
            killed_at = time.monotonic()
            await asyncio.to_thread(service.wait)
            outcomes = await asyncio.gather(*batch)
        acked = {
            f"order-{i}": o.account.id
            for i, o in enumerate(outcomes)
            if not isinstance(o, grpc.aio.AioRpcError)
        }
        passwords = {
            i: o.generated_password
            for i, o in enumerate(outcomes)
            if not isinstance(o, grpc.aio.AioRpcError) and o.generated_password
        }
        report.acked = len(acked)
        report.extra["comet_users_at_kill"] = len(sim.state.users) - len(FOREIGN_NAMES)
        report.extra["acked_before_kill"] = len(acked)

        await asyncio.to_thread(service.start)  # same data: the start-up sweep resumes the rest
        report.extra["restart_s"] = round(time.monotonic() - killed_at, 2)
        async with fresh_channel(service.address) as channel:
            await asyncio.wait_for(channel.channel_ready(), 30)
            stubs = Stubs.on(channel)
            started = time.monotonic()
            for _ in range(600):
                accounts = await list_all(stubs)
                if all(a.status == ACTIVE for a in accounts):
                    break
                await asyncio.sleep(0.1)
            report.extra["sweep_converged_s"] = round(time.monotonic() - started, 2)
            report.extra["left_by_sweep"] = sum(1 for a in await list_all(stubs) if a.status != ACTIVE)
            gate = asyncio.Semaphore(concurrency)

            async def resend(i: int) -> str:
                async with gate:
                    response = await caller.until_ok(
                        lambda: stubs.accounts.CreateAccount(order(i, product_id), timeout=60)
                    )
                    if response.generated_password:
                        passwords.setdefault(i, response.generated_password)
                    return str(response.account.id)

            ids = await asyncio.gather(*(resend(i) for i in range(creates)))
            accounts = await list_all(stubs)
        for i, account_id in enumerate(ids):
            before = acked.get(f"order-{i}")
            if before is not None and before != account_id:
                report.lost.append(f"order-{i}: acknowledged as {before}, now {account_id}")
        if len(set(ids)) != creates:
            report.lost.append(f"{creates} orders became {len(set(ids))} accounts")
        if len(accounts) != creates:
            report.lost.append(f"{len(accounts)} accounts stored for {creates} orders")
        for account in accounts:
            if account.status != ACTIVE:
                report.lost.append(f"{account.id} is {accounts_pb2.AccountStatus.Name(account.status)}")
        check_comet(sim, accounts, report.lost, foreign)
        check_passwords(sim, accounts, ids, passwords, report)
        report.accounts_verified = len(accounts)
        report.extra["foreign_users"] = len(FOREIGN_NAMES)
        report.extra["faults_injected"] = {"sigkill": 1}
    finally:
        service.stop()
        await sim.stop()
    return report


# --- replicas ------------------------------------------------------------------------------------


async def replica_scenario(
    work_dir: Path,
    *,
    creates: int = 200,
    changed: int = 100,
    rounds: int = 3,
    concurrency: int = 40,
    behaviour: str = "reference",
) -> ProcessReport:
    report = ProcessReport(extra={"profile": behaviour})
    caller = Caller(report)
    rng = random.Random(5)
    sim = CometSimulator(
        admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD, seed=98, latency_ms=5, behaviour=behaviour
    )
    await sim.start(host="127.0.0.1", port=0)
    foreign = ForeignUsers.seed(sim, FOREIGN_NAMES)
    replicas: list[ServiceProcess] = []
    try:
        async with fresh_postgres_database() as url:
            key = new_secret_key()
            for n in range(2):
                replicas.append(
                    new_process(
                        work_dir / f"replica{n}",
                        COMET_PROVISIONING_DATABASE_URL=url,
                        COMET_PROVISIONING_SECRET_KEY=key,
                        **FAST_SWEEP,
                    )
                )
            for replica in replicas:
                await asyncio.to_thread(replica.start)
            try:
                async with (
                    fresh_channel(replicas[0].address) as one,
                    fresh_channel(replicas[1].address) as two,
                ):
                    both = (Stubs.on(one), Stubs.on(two))
                    await run_replicas(
                        both, sim, foreign, caller, report, rng, creates, changed, rounds, concurrency
                    )
            finally:
                for replica in replicas:
                    await asyncio.to_thread(replica.stop)
    finally:
        await sim.stop()
    return report


async def run_replicas(
    both: tuple[Stubs, Stubs],
    sim: CometSimulator,
    foreign: ForeignUsers,
    caller: Caller,
    report: ProcessReport,
    rng: random.Random,
    creates: int,
    changed: int,
    rounds: int,
    concurrency: int,
) -> None:
    _, _, product_id = await setup_catalog(both[0], sim)
    gate = asyncio.Semaphore(concurrency)

    async def limited(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await caller.until_ok(call)

    # Every order to both replicas at once.
    pairs = [
        asyncio.gather(
            *(
                limited(lambda s=s, i=i: s.accounts.CreateAccount(order(i, product_id), timeout=60))
                for s in both
            )
        )
        for i in range(creates)
    ]
    answered = await asyncio.gather(*pairs)
    ids = []
    for i, (first, second) in enumerate(answered):
        if first.account.id != second.account.id:
            report.lost.append(f"order-{i}: replicas answered {first.account.id} and {second.account.id}")
        ids.append(first.account.id)
    report.acked = 2 * creates

    targets = ids[:changed]
    expected = {a: (2, ACTIVE) for a in targets}  # devices, status
    either: dict[str, set[int]] = {}  # after a same-field race: the values that may have won

    async def disjoint(account_id: str) -> None:
        devices, status = rng.randint(1, 10), SUSPENDED if expected[account_id][1] == ACTIVE else ACTIVE
        package_on, status_on = (both[0], both[1]) if rng.random() < 0.5 else (both[1], both[0])
        change = accounts_pb2.ChangePackageRequest(id=account_id, options={"number_of_devices": devices})
        if status == SUSPENDED:
            flip: Callable[[], Awaitable[Any]] = lambda: status_on.accounts.SuspendAccount(  # noqa: E731
                accounts_pb2.SuspendAccountRequest(id=account_id, reason="replicas"), timeout=60
            )
        else:
            flip = lambda: status_on.accounts.UnsuspendAccount(  # noqa: E731
                accounts_pb2.UnsuspendAccountRequest(id=account_id), timeout=60
            )
        await asyncio.gather(
            limited(lambda: package_on.accounts.ChangePackage(change, timeout=60)), limited(flip)
        )
        expected[account_id] = (devices, status)

    async def same_field(account_id: str) -> None:
        values = rng.sample(range(1, 11), 2)
        await asyncio.gather(
            *(
                limited(
                    lambda s=s, v=v: s.accounts.ChangePackage(
                        accounts_pb2.ChangePackageRequest(id=account_id, options={"number_of_devices": v}),
                        timeout=60,
                    )
                )
                for s, v in zip(both, values, strict=True)
            )
        )
        either[account_id] = set(values)

    for _ in range(rounds):
        await asyncio.gather(*(disjoint(a) for a in targets))
    await asyncio.gather(*(same_field(a) for a in targets))
    accounts = {a.id: a for a in await list_all(both[1])}
    for account_id in targets:  # the race's winner: Comet and the store agree on it
        account = accounts[account_id]
        user = sim.state.users.get(account.username)
        held = account.options["number_of_devices"]
        if held not in either[account_id] or user is None or user.profile.get("MaximumDevices") != held:
            report.lost.append(
                f"{account_id}: store {held}, Comet {user and user.profile.get('MaximumDevices')}, "
                f"sent {sorted(either[account_id])}"
            )
    # A last change per account through either replica: exactly what both must hold.
    for account_id in targets:
        expected[account_id] = (rng.randint(1, 10), expected[account_id][1])

    def last_change(account_id: str, stubs: Stubs) -> Callable[[], Awaitable[Any]]:
        request = accounts_pb2.ChangePackageRequest(
            id=account_id, options={"number_of_devices": expected[account_id][0]}
        )
        return lambda: stubs.accounts.ChangePackage(request, timeout=60)

    await asyncio.gather(*(limited(last_change(a, rng.choice(both))) for a in targets))
    report.extra["changes_acked"] = len(targets) * (2 * rounds + 3)
    final = await list_all(both[0])
    by_id = {a.id: a for a in final}
    for account_id, (devices, status) in expected.items():
        account = by_id[account_id]
        user = sim.state.users.get(account.username)
        problems = []
        if account.options["number_of_devices"] != devices:
            problems.append(f"store devices {account.options['number_of_devices']} != {devices}")
        if account.status != status:
            problems.append(f"store status {account.status} != {status}")
        if user is None:
            problems.append("no Comet user")
        else:
            if user.profile.get("MaximumDevices") != devices:
                problems.append(f"Comet devices {user.profile.get('MaximumDevices')} != {devices}")
            if bool(user.profile.get("IsSuspended")) != (status == SUSPENDED):
                problems.append(
                    f"Comet IsSuspended {user.profile.get('IsSuspended')} != {status == SUSPENDED}"
                )
        if problems:
            report.lost.append(f"{account_id}: {'; '.join(problems)}")
    if len(final) != creates:
        report.lost.append(f"{len(final)} accounts for {creates} orders")
    check_comet(sim, final, report.lost, foreign)
    report.accounts_verified = len(final)
    report.extra["foreign_users"] = len(FOREIGN_NAMES)
