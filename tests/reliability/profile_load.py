"""A verified load against the service while its Comet server answers as one of the simulator's
behaviour profiles (comet-api.md §6), everything as real processes, as an operator would run it:

- `comet-provisioning simulator --behaviour PROFILE` (for "hostile": duplicates answered 500, unknown
  users 403, a proxy answering every 7th call with a 502 half before and half after Comet acted, a
  clock 45 s ahead);
- `comet-provisioning serve` on SQLite, its sweep every second and a first retry after half a second;
- the simulator registered through gRPC (a group, the server, a product with a policy group and a
  vault) by a client that retries what is retryable with the same request_id;
- `comet-provisioning loadtest --verify --simulator-admin --cleanup --json`: re-sends, colliding
  names, foreign users seeded under some of the ordered names, callers that retry, a bounded wait
  for the sweep before verifying, then every account of the run terminated.

    .venv/bin/python tests/reliability/profile_load.py [--profile NAME|all] [--accounts N] [--json]

Prints the load's summary and figures per profile; exits 1 unless every run verified: every order
acknowledged and ACTIVE, no duplicate, no orphan, no Comet user without limits, no foreign user
modified, and every account terminated without a Comet user left or a foreign one deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from comet_provisioning.sim import BEHAVIOUR_PROFILES, DEFAULT_PROVIDER_ID  # noqa: E402
from comet_provisioning_client import ProvisioningClient  # noqa: E402
from comet_provisioning_client.v1 import servers_pb2  # noqa: E402

from tests.fixtures.db import fresh_postgres_database  # noqa: E402
from tests.fixtures.service import BIN, ServiceProcess, free_port, service_env  # noqa: E402
from tests.fixtures.sim import SIM_ADMIN  # noqa: E402
from tests.reliability.support import product_message  # noqa: E402

SWEEP_ENV = {
    "COMET_PROVISIONING_RESUME_INTERVAL_S": "1",
    "COMET_PROVISIONING_PROVISION_RETRY_DELAY_S": "0.5",
}


@dataclass(frozen=True)
class LoadSize:
    accounts: int = 1000
    concurrency: int = 50
    duplicate_fraction: float = 0.1
    same_username_fraction: float = 0.2
    foreign_fraction: float = 0.1
    retries: int = 8
    settle_timeout_s: float = 120.0
    seed: int = 15
    timeout_s: float = 60.0  # each call's deadline
    sim_latency_ms: float = 0.0  # added to every Comet call
    cleanup: bool = True  # terminate the run's accounts afterwards (and check no user is left)
    late_retry: bool = False  # once the sweep settled, send each unacknowledged order once more


@dataclass
class SimProcess:
    """`comet-provisioning simulator` in a child process."""

    profile: str
    port: int
    password: str
    log_path: Path
    latency_ms: float = 0.0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        args = [
            str(BIN / "comet-provisioning"),
            "simulator",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--admin-user",
            SIM_ADMIN,
            "--admin-password",
            self.password,
            "--behaviour",
            self.profile,
            "--seed",
            "15",
            "--latency-ms",
            str(self.latency_ms),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the simulator exited early:\n{self.log_path.read_text()}")
            with contextlib.suppress(OSError):
                self.control("config")
                return
            time.sleep(0.1)
        raise TimeoutError(f"the simulator did not answer:\n{self.log_path.read_text()}")

    def control(self, path: str) -> Any:
        """A GET on the simulator's control API (never counted or faulted)."""
        url = f"{self.base_url}/__sim__/{path}"
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - loopback http
            return json.loads(reply.read())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def processes(
    work: Path, profile: str, latency_ms: float = 0.0, **env: str
) -> Iterator[tuple[SimProcess, ServiceProcess]]:
    work.mkdir(parents=True, exist_ok=True)
    sim = SimProcess(profile, free_port(), secrets.token_urlsafe(16), work / "simulator.log", latency_ms)
    service = ServiceProcess(
        f"127.0.0.1:{free_port()}", work, work / "service.log", service_env(work, **SWEEP_ENV, **env)
    )
    try:
        sim.start()
        service.start()
        yield sim, service
    finally:
        service.stop()
        sim.stop()


async def register(address: str, sim: SimProcess) -> str:
    """The simulator as the server of a group, and a product placing into it; the product's id."""
    async with ProvisioningClient(address, max_attempts=8) as client:
        group = await client.create_server_group(servers_pb2.ServerGroup(name=f"{sim.profile} group"))
        connection = servers_pb2.ServerConnection(
            protocol=servers_pb2.PROTOCOL_HTTP,
            host="127.0.0.1",
            port=sim.port,
            admin_username=SIM_ADMIN,
            admin_password=sim.password,
        )
        await client.create_server(
            servers_pb2.Server(
                display_name=f"{sim.profile} simulator",
                connection=connection,
                server_group_id=group.server_group.id,
            )
        )
        product = await client.create_product(
            product_message(f"{sim.profile} backup", group.server_group.id, DEFAULT_PROVIDER_ID)
        )
        return product.product.id


def loadtest_args(address: str, product_id: str, size: LoadSize) -> list[str]:
    return [
        str(BIN / "comet-provisioning"),
        "loadtest",
        "--target",
        address,
        "--product",
        product_id,
        "--accounts",
        str(size.accounts),
        "--concurrency",
        str(size.concurrency),
        "--duplicate-fraction",
        str(size.duplicate_fraction),
        "--same-username-fraction",
        str(size.same_username_fraction),
        "--foreign-fraction",
        str(size.foreign_fraction),
        "--retries",
        str(size.retries),
        "--settle-timeout",
        str(size.settle_timeout_s),
        "--seed",
        str(size.seed),
        "--timeout",
        str(size.timeout_s),
        "--verify",
        "--simulator-admin",
        "--json",
        *(["--cleanup"] if size.cleanup else []),
        *(["--late-retry"] if size.late_retry else []),
    ]


async def profile_load(
    work: Path, profile: str, size: LoadSize, *, echo: bool = False, database_url: str = ""
) -> dict[str, Any]:
    """One verified load against a simulator answering as `profile`: the loadtest's JSON summary,
    its exit status, and what the simulator saw (its proxy's 502s, add-user calls). The service's
    store is SQLite in `work`, or `database_url`."""
    env = {"COMET_PROVISIONING_DATABASE_URL": database_url} if database_url else {}
    with processes(work / profile, profile, size.sim_latency_ms, **env) as (sim, service):
        product_id = await register(service.address, sim)
        counters_before = sim.control("counters")
        started = time.monotonic()
        done = await asyncio.to_thread(
            subprocess.run,
            loadtest_args(service.address, product_id, size),
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.monotonic() - started
        if echo:
            print(done.stderr, file=sys.stderr, flush=True)
            if done.returncode:
                tail = service.log_lines()[-40:]
                print("service log (last lines):", *tail, sep="\n", file=sys.stderr, flush=True)
        lines = done.stdout.strip().splitlines()
        if not lines:
            raise RuntimeError(f"loadtest printed nothing (exit {done.returncode}):\n{done.stderr}")
        summary: dict[str, Any] = json.loads(lines[-1])
        counters = sim.control("counters")
    faults = counters.get("faults", {})
    committed, calls = counters.get("committed", {}), counters.get("calls", {})
    return {
        "profile": profile,
        "exit_status": done.returncode,
        "seconds": round(seconds, 1),
        "summary": summary,
        "comet": {
            "calls": sum(calls.values()) - sum(counters_before.get("calls", {}).values()),
            "proxy502_before": faults.get("proxy502_before", 0),
            "proxy502_after": faults.get("proxy502_after", 0),
            "add_user_calls": calls.get("add-user", 0),
            "add_user_committed": committed.get("add-user", 0),
        },
    }


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The row of the README's matrix: what was asked, what went wrong on the way, what held."""
    summary = result["summary"]
    check = summary.get("verification") or {}
    foreign = check.get("foreign") or {}
    failures = {code: n for code, n in summary.get("codes", {}).items() if code != "OK"}
    comet = result["comet"]
    return {
        "orders": summary["requested"],
        "calls": summary["calls"],
        "retried": summary.get("retried", 0),
        "acknowledged": summary["succeeded"],
        "failed": summary["failed"],
        "failures_seen_by_callers": failures,
        "reasons": summary.get("reasons", {}),
        "proxy_502": f"{comet['proxy502_before']} before, {comet['proxy502_after']} after",
        "add_user": f"{comet['add_user_committed']} of {comet['add_user_calls']} committed",
        "collisions_renamed": f"{summary['collisions_renamed']}/{summary['collisions']}",
        "foreign_users": foreign.get("checked", 0),
        "foreign_modified": foreign.get("modified", "-"),
        "foreign_write_calls": foreign.get("write_calls", "-"),
        "acked_not_active": check.get("acked_not_active", "-"),
        "users_without_limits": check.get("unlimited_users", "-"),
        "not_active_users": check.get("not_active_users", "-"),
        "duplicates": summary["duplicates"],
        "orphans": summary["orphans"],
        "sweep_wait_s": (summary.get("settle") or {}).get("waited_s", 0),
        **_cleanup_figures(summary.get("cleanup")),
        "verified": summary["verified"],
        "problems": check.get("problems", [])[:10],
        "seconds": result["seconds"],
        "lost": 0 if summary["verified"] and result["exit_status"] == 0 else "see problems",
    }


def _cleanup_figures(cleanup: dict[str, Any] | None) -> dict[str, Any]:
    if cleanup is None:
        return {}
    return {
        "terminated": f"{cleanup['accounts'] - sum(cleanup['failures'].values())} of {cleanup['accounts']}",
        "users_left_after_terminate": cleanup["left_on_comet"],
        "foreign_modified_after_terminate": cleanup["foreign_modified"],
    }


@contextlib.asynccontextmanager
async def store(postgres: bool) -> AsyncIterator[str]:
    """A fresh PostgreSQL database's URL, or "" for the service's SQLite default."""
    if not postgres:
        yield ""
        return
    async with fresh_postgres_database() as url:
        yield url


@contextlib.asynccontextmanager
async def work_dir(path: str | None) -> AsyncIterator[Path]:
    if path:
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="profile-load-") as tmp:
        yield Path(tmp)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="hostile", help=f"one of {BEHAVIOUR_PROFILES}, or all")
    default = LoadSize()
    parser.add_argument("--accounts", type=int, default=default.accounts)
    parser.add_argument("--concurrency", type=int, default=default.concurrency)
    parser.add_argument("--foreign-fraction", type=float, default=default.foreign_fraction)
    parser.add_argument("--same-username-fraction", type=float, default=default.same_username_fraction)
    parser.add_argument("--retries", type=int, default=default.retries)
    parser.add_argument("--settle-timeout", type=float, default=default.settle_timeout_s)
    parser.add_argument("--timeout", type=float, default=default.timeout_s, help="each call's deadline")
    parser.add_argument("--sim-latency-ms", type=float, default=0.0, help="added to every Comet call")
    parser.add_argument("--postgres", action="store_true", help="the store on a fresh PostgreSQL database")
    parser.add_argument(
        "--late-retry", action="store_true", help="send each unacknowledged order once more, after the sweep"
    )
    parser.add_argument(
        "--no-cleanup", action="store_true", help="leave the run's accounts (default: terminate them after)"
    )
    parser.add_argument("--work-dir", help="keep the processes' logs and data here")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the summaries")
    args = parser.parse_args(argv)
    profiles = BEHAVIOUR_PROFILES if args.profile == "all" else (args.profile,)
    if not set(profiles) <= set(BEHAVIOUR_PROFILES):
        parser.error(f"--profile: expected one of {BEHAVIOUR_PROFILES} or all")
    size = LoadSize(
        accounts=args.accounts,
        concurrency=args.concurrency,
        foreign_fraction=args.foreign_fraction,
        same_username_fraction=args.same_username_fraction,
        retries=args.retries,
        settle_timeout_s=args.settle_timeout,
        timeout_s=args.timeout,
        sim_latency_ms=args.sim_latency_ms,
        cleanup=not args.no_cleanup,
        late_retry=args.late_retry,
    )
    results = {}
    async with work_dir(args.work_dir) as work:
        for profile in profiles:
            async with store(args.postgres) as database_url:
                result = await profile_load(
                    work, profile, size, echo=not args.json, database_url=database_url
                )
            results[profile] = figures(result)
            if not args.json:
                print(f"profile {profile}: " + json.dumps(results[profile]), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if all(r["lost"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
