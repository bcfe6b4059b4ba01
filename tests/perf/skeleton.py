"""Skeletons of the create path: the baseline of the CPU figure. Run by bench.py.

    python tests/perf/skeleton.py PORT SIM_URL [--durable] [--fast]

A bare `grpc.aio` server whose `CreateAccount` makes exactly the service's Comet calls
(`bench.raw_create`, aiohttp, a pool of 16: three on a current server with `--fast`, four on an old
one) and answers a minimal `Account`: what gRPC adds to the floor. With `--durable` it also writes
the least a create that survives a crash must write, in two SQLite transactions on the service's
own schema (WAL, synchronous=NORMAL), with plain `sqlite3`: before add-user, the request-id lookup,
the account row marked ATTEMPTED, the request id's record and one event; after the calls, the row
set ACTIVE and five step events. No validation, placement, passwords, leases,
logging, metrics or authentication: the service's own work is the difference from its figure.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from bench import raw_create
from comet_provisioning.store import migrate, open_database
from comet_provisioning_client.v1 import accounts_pb2, accounts_pb2_grpc

_EVENT = (
    "INSERT INTO account_events (account_id, operation, step, comet_endpoint, outcome, duration_ms,"
    " error, request_id, create_time) VALUES (?, 'create', ?, ?, 'SUCCEEDED', 0.1, '', ?, ?)"
)


_CREATE = "/comet.provisioning.v1.AccountService/CreateAccount"


class DurableSteps:
    """The two transactions, on a fresh database with the service's tables (its own migrations)."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            self.db.execute(f"PRAGMA {pragma}")

    @classmethod
    async def create(cls) -> DurableSteps:
        path = Path(tempfile.mkdtemp(prefix="cp-skeleton-")) / "skeleton.db"
        db = open_database(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate.upgrade(db)
        finally:
            await db.close()
        return cls(path)

    def before_add_user(self, name: str) -> None:
        now = datetime.now(UTC).isoformat(" ")
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(
            "SELECT fingerprint, response FROM idempotency_keys WHERE method = ? AND request_id = ?",
            (_CREATE, name),
        ).fetchall()
        self.db.execute(
            "INSERT INTO accounts (id, status, create_time, update_time, customer_email,"
            " customer_reference, add_user_state, username, options)"
            " VALUES (?, 'PENDING', ?, ?, ?, ?, 'ATTEMPTED', ?, '{\"number_of_devices\": 2}')",
            (name, now, now, f"{name}@example.com", name, name),
        )
        self.db.execute(
            "INSERT INTO idempotency_keys (method, request_id, fingerprint, response, create_time)"
            " VALUES (?, ?, ?, ?, ?)",
            (_CREATE, name, "f" * 64, name.encode(), now),
        )
        self.db.execute(_EVENT, (name, "place", "", name, now))
        self.db.execute("COMMIT")

    def after_calls(self, name: str) -> None:
        now = datetime.now(UTC).isoformat(" ")
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("SELECT version FROM accounts WHERE id = ?", (name,)).fetchall()
        self.db.execute(
            "UPDATE accounts SET status = 'ACTIVE', add_user_state = 'DONE', vault_state = 'DONE',"
            " update_time = ?, version = version + 1 WHERE id = ?",
            (now, name),
        )
        steps = ("add_user", "request_vault", "read_profile", "apply_quotas", "finish")
        self.db.executemany(_EVENT, [(name, step, step, name, now) for step in steps])
        self.db.execute("COMMIT")


class SkeletonAccounts(accounts_pb2_grpc.AccountServiceServicer):
    def __init__(self, sim_url: str, durable: DurableSteps | None, fast: bool) -> None:
        self.sim_url, self.durable, self.fast = sim_url, durable, fast
        self.names = (f"skeleton{i:07d}" for i in count())
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16))

    async def CreateAccount(
        self, request: accounts_pb2.CreateAccountRequest, context: Any
    ) -> accounts_pb2.CreateAccountResponse:
        name = next(self.names)
        if self.durable:
            self.durable.before_add_user(name)
        await raw_create(self.session, self.sim_url, name, "bench-raw-policy", fast=self.fast)
        if self.durable:
            self.durable.after_calls(name)
        account = accounts_pb2.Account(id=name, username=name, status=accounts_pb2.ACCOUNT_STATUS_ACTIVE)
        return accounts_pb2.CreateAccountResponse(account=account)


async def serve(port: int, sim_url: str, durable: bool, fast: bool) -> None:
    from grpc_health.v1 import health, health_pb2_grpc

    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)  # for start-up
    servicer = SkeletonAccounts(sim_url, await DurableSteps.create() if durable else None, fast)
    accounts_pb2_grpc.add_AccountServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2], "--durable" in sys.argv[3:], "--fast" in sys.argv[3:]))
