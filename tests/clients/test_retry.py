"""The channel's retry policy and deadlines, counted server-side on a stub AccountService."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from comet_provisioning_client import (
    AbortedError,
    DeadlineExceededError,
    ProvisioningClient,
    UnavailableError,
)
from comet_provisioning_client.v1 import accounts_pb2, accounts_pb2_grpc


@dataclass
class Script(accounts_pb2_grpc.AccountServiceServicer):
    """Answers `failures` calls with `code`, then succeeds; records what each attempt carried."""

    failures: int = 0
    code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    delay_s: float = 0.0
    attempts: int = 0
    request_ids: list[str] = field(default_factory=list)
    metadata: list[dict[str, str]] = field(default_factory=list)

    async def _attempt(self, context: Any) -> None:
        self.attempts += 1
        self.metadata.append({k: v for k, v in context.invocation_metadata() if isinstance(v, str)})
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.attempts <= self.failures:
            await context.abort(self.code, "scripted failure")

    async def GetAccount(self, request: Any, context: Any) -> accounts_pb2.GetAccountResponse:
        await self._attempt(context)
        return accounts_pb2.GetAccountResponse(account=accounts_pb2.Account(id=request.id))

    async def SuspendAccount(self, request: Any, context: Any) -> accounts_pb2.SuspendAccountResponse:
        self.request_ids.append(request.request_id)
        await self._attempt(context)
        return accounts_pb2.SuspendAccountResponse(account=accounts_pb2.Account(id=request.id))


@pytest.fixture
async def stub() -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    server = grpc.aio.server()
    accounts_pb2_grpc.add_AccountServiceServicer_to_server(script, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield script, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_unavailable_twice_then_ok_is_retried(stub: tuple[Script, str]) -> None:
    script, target = stub
    script.failures = 2
    async with ProvisioningClient(target) as client:
        account = await client.get_account("acc-1")
    assert account.id == "acc-1"
    assert script.attempts == 3


async def test_retries_of_a_mutating_call_reuse_its_request_id(stub: tuple[Script, str]) -> None:
    script, target = stub
    script.failures = 2
    async with ProvisioningClient(target) as client:
        await client.suspend_account("acc-1")
    assert script.attempts == 3
    assert len(set(script.request_ids)) == 1
    assert script.request_ids[0]


async def test_attempts_are_bounded(stub: tuple[Script, str]) -> None:
    script, target = stub
    script.failures = 100
    async with ProvisioningClient(target, max_attempts=3) as client:
        with pytest.raises(UnavailableError):
            await client.get_account("acc-1")
    assert script.attempts == 3


async def test_only_unavailable_is_retried(stub: tuple[Script, str]) -> None:
    script, target = stub
    script.failures, script.code = 1, grpc.StatusCode.ABORTED
    async with ProvisioningClient(target) as client:
        with pytest.raises(AbortedError):
            await client.get_account("acc-1")
    assert script.attempts == 1


async def test_max_attempts_one_turns_retries_off(stub: tuple[Script, str]) -> None:
    script, target = stub
    script.failures = 1
    async with ProvisioningClient(target, max_attempts=1) as client:
        with pytest.raises(UnavailableError):
            await client.get_account("acc-1")
    assert script.attempts == 1


async def test_default_deadline_applies_to_raw_stub_calls(stub: tuple[Script, str]) -> None:
    script, target = stub
    script.delay_s = 2.0
    async with ProvisioningClient(target, default_timeout_s=0.3) as client:
        with pytest.raises(grpc.aio.AioRpcError) as raw:  # the service config's timeout
            await client.accounts.GetAccount(accounts_pb2.GetAccountRequest(id="a"))
        assert raw.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        with pytest.raises(DeadlineExceededError):
            await client.get_account("a")


async def test_token_goes_in_metadata_of_every_call(stub: tuple[Script, str]) -> None:
    script, target = stub
    async with ProvisioningClient(target, token="s3cret-token") as client:
        await client.get_account("a")
        await client.accounts.GetAccount(accounts_pb2.GetAccountRequest(id="b"))
    assert [m.get("authorization") for m in script.metadata] == ["Bearer s3cret-token"] * 2
