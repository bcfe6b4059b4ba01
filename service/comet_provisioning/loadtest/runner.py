"""Runs a plan against the service: C workers, optional open-loop pacing at R calls/s, one record
per call (latency, status code, error reason, the account it answered with).

Callers behave as a billing system does: an order that meets UNAVAILABLE, ABORTED or
DEADLINE_EXCEEDED (what a retry with the same request_id can fix) is sent again, with the same
request_id, up to `retries` times with jittered exponential backoff; each attempt is its own record.
An order is acknowledged when one of its calls answered OK."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from comet_provisioning_client import ProvisioningClient, ProvisioningError
from comet_provisioning_client.v1 import accounts_pb2

from .plan import Call, Plan

# What a caller retries with the same request_id (the service kept its progress; AIP-194).
RETRY_CODES = frozenset({"UNAVAILABLE", "ABORTED", "DEADLINE_EXCEEDED"})
RETRY_BACKOFF_S = 0.25
RETRY_BACKOFF_MAX_S = 4.0


@dataclass(frozen=True)
class CallRecord:
    order_index: int
    duplicate: bool
    started: float  # seconds since the run's start
    latency_s: float
    code: str  # "OK" or the gRPC status code name
    reason: str = ""
    account_id: str = ""
    username: str = ""
    server_id: str = ""
    status: str = ""  # the account's status name when OK
    attempt: int = 0  # 0: the call as planned; N: the caller's Nth retry of it
    password_given: bool = False  # the reply carried a generated password


@dataclass
class RunResult:
    records: list[CallRecord] = field(default_factory=list)
    elapsed_s: float = 0.0
    # order index -> the generated password a reply carried (kept in memory only: --verify
    # compares it with the Comet user's on simulators; it is never printed).
    passwords: dict[int, str] = field(default_factory=dict, repr=False)
    started_at: float = 0.0  # perf_counter() at the run's start


def retry_backoff_s(attempt: int) -> float:
    """Full jitter over an exponential ceiling (attempt 1 is the first retry)."""
    ceiling = min(RETRY_BACKOFF_MAX_S, RETRY_BACKOFF_S * 2 ** (attempt - 1))
    return random.uniform(0.0, ceiling)  # jitter, not a secret


async def _one(
    client: ProvisioningClient,
    product_id: str,
    call: Call,
    t0: float,
    timeout_s: float,
    attempt: int,
    passwords: dict[int, str],
) -> CallRecord:
    order = call.order
    start = time.perf_counter()
    try:
        response = await client.create_account(
            product_id,
            accounts_pb2.Customer(
                email=order.email,
                first_name="Load",
                last_name=f"Test {order.index}",
                reference=order.reference,
            ),
            options=order.options,
            username=order.username,
            request_id=order.request_id,
            timeout_s=timeout_s,
        )
    except ProvisioningError as err:
        return CallRecord(
            order.index,
            call.duplicate,
            start - t0,
            time.perf_counter() - start,
            err.code.name,
            err.reason,
            attempt=attempt,
        )
    except grpc.RpcError as err:  # pragma: no cover - the client maps every AioRpcError
        return CallRecord(
            order.index,
            call.duplicate,
            start - t0,
            time.perf_counter() - start,
            "UNKNOWN",
            str(err),
            attempt=attempt,
        )
    account = response.account
    if response.generated_password:
        passwords.setdefault(order.index, response.generated_password)
    return CallRecord(
        order.index,
        call.duplicate,
        start - t0,
        time.perf_counter() - start,
        "OK",
        account_id=account.id,
        username=account.username,
        server_id=account.server_id,
        status=accounts_pb2.AccountStatus.Name(account.status),
        attempt=attempt,
        password_given=bool(response.generated_password),
    )


async def run(
    client: ProvisioningClient,
    product_id: str,
    plan: Plan,
    *,
    concurrency: int,
    rate: float | None = None,
    duration_s: float | None = None,
    timeout_s: float = 60.0,
    retries: int = 0,
    on_record: Callable[[CallRecord], None] | None = None,
) -> RunResult:
    """`on_record` hears each call's last attempt (the one that settles it for the caller)."""
    t0 = time.perf_counter()
    result = RunResult(started_at=t0)
    scheduled = 0

    async def worker() -> None:
        nonlocal scheduled
        while True:
            if duration_s is not None and time.perf_counter() - t0 >= duration_s:
                plan.stop()
            call = plan.next_call()
            if call is None:
                return
            if rate:
                slot = scheduled
                scheduled += 1
                delay = t0 + slot / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            attempt = 0
            while True:
                record = await _one(client, product_id, call, t0, timeout_s, attempt, result.passwords)
                result.records.append(record)
                if record.code not in RETRY_CODES or attempt >= retries:
                    break
                attempt += 1
                await asyncio.sleep(retry_backoff_s(attempt))
            if on_record is not None:
                on_record(record)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    result.elapsed_s = time.perf_counter() - t0
    return result


async def resend_unacknowledged(
    client: ProvisioningClient,
    product_id: str,
    plan: Plan,
    result: RunResult,
    *,
    concurrency: int,
    timeout_s: float,
    attempt: int,
) -> int:
    """A billing system's next attempt, later: every order no call acknowledged is sent once more
    with its request_id (after the service's sweep may have finished it). Returns how many."""
    acknowledged = {r.order_index for r in result.records if r.code == "OK"}
    calls = iter([Call(order, duplicate=False) for order in plan.orders if order.index not in acknowledged])
    sent = 0

    async def worker() -> None:
        nonlocal sent
        for call in calls:  # one iterator shared by the workers of one event loop
            sent += 1
            record = await _one(
                client, product_id, call, result.started_at, timeout_s, attempt, result.passwords
            )
            result.records.append(record)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return sent
