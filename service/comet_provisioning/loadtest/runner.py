"""Runs a plan against the service: C workers, optional open-loop pacing at R calls/s, one record
per call (latency, status code, error reason, the account it answered with)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
from comet_provisioning_client import ProvisioningClient, ProvisioningError
from comet_provisioning_client.v1 import accounts_pb2

from .plan import Call, Plan


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


@dataclass
class RunResult:
    records: list[CallRecord] = field(default_factory=list)
    elapsed_s: float = 0.0


async def _one(
    client: ProvisioningClient, product_id: str, call: Call, t0: float, timeout_s: float
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
            order.index, call.duplicate, start - t0, time.perf_counter() - start, err.code.name, err.reason
        )
    except grpc.RpcError as err:  # pragma: no cover - the client maps every AioRpcError
        return CallRecord(
            order.index, call.duplicate, start - t0, time.perf_counter() - start, "UNKNOWN", str(err)
        )
    account = response.account
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
    on_record: Callable[[CallRecord], None] | None = None,
) -> RunResult:
    result = RunResult()
    t0 = time.perf_counter()
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
            record = await _one(client, product_id, call, t0, timeout_s)
            result.records.append(record)
            if on_record is not None:
                on_record(record)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    result.elapsed_s = time.perf_counter() - t0
    return result
