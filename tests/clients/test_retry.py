"""Retries, deadlines, request ids, channels and interceptors, counted server-side on a stub
AccountService that fails as scripted (with the service's own rich errors where it matters)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from comet_provisioning.api.errors import abort
from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning_client import (
    AbortedError,
    DeadlineExceededError,
    ProvisioningClient,
    ProvisioningError,
    UnavailableError,
)
from comet_provisioning_client.v1 import accounts_pb2, accounts_pb2_grpc


@dataclass
class Script(accounts_pb2_grpc.AccountServiceServicer):
    """Answers `failures` calls with `code`, then succeeds; records what each attempt carried."""

    failures: int = 0
    code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    # When set, failures are this error as the service sends it (ErrorInfo, retryable mark).
    error: ServiceError | None = None
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
            if self.error is not None:
                await abort(context, self.error)
            await context.abort(self.code, "scripted failure")

    async def GetAccount(self, request: Any, context: Any) -> accounts_pb2.GetAccountResponse:
        await self._attempt(context)
        return accounts_pb2.GetAccountResponse(account=accounts_pb2.Account(id=request.id))

    async def SuspendAccount(self, request: Any, context: Any) -> accounts_pb2.SuspendAccountResponse:
        self.request_ids.append(request.request_id)
        await self._attempt(context)
        return accounts_pb2.SuspendAccountResponse(account=accounts_pb2.Account(id=request.id))

    async def CreateAccount(self, request: Any, context: Any) -> accounts_pb2.CreateAccountResponse:
        self.request_ids.append(request.request_id)
        await self._attempt(context)
        return accounts_pb2.CreateAccountResponse(
            account=accounts_pb2.Account(id="acc-new"), generated_password="shown-once"
        )


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


BUSY = ServiceError(
    ErrorKind.ABORTED, "ACCOUNT_BUSY", "another replica is working on this account; retry", metadata={}
)
CONFLICT = ServiceError(ErrorKind.ABORTED, "PROFILE_CONFLICT", "the profile kept changing")
CUT_SHORT = ServiceError(
    ErrorKind.DEADLINE_EXCEEDED,
    "DEADLINE_EXCEEDED",
    "the deadline passed before the work finished; progress is kept and a retry resumes it",
)


@pytest.mark.parametrize("error", [BUSY, CUT_SHORT], ids=["account-busy", "deadline-progress-kept"])
async def test_what_the_server_marks_retryable_is_retried_with_the_same_request_id(
    stub: tuple[Script, str], error: ServiceError
) -> None:
    script, target = stub
    script.failures, script.error = 2, error
    async with ProvisioningClient(target) as client:
        result = await client.suspend_account("acc-1")
    assert script.attempts == 3
    assert len(set(script.request_ids)) == 1
    assert result.request_id == script.request_ids[0]


async def test_an_error_the_server_does_not_mark_retryable_is_not_retried(stub: tuple[Script, str]) -> None:
    script, target = stub
    script.failures, script.error = 1, CONFLICT
    async with ProvisioningClient(target) as client:
        with pytest.raises(AbortedError) as caught:
            await client.suspend_account("acc-1")
    assert script.attempts == 1
    assert not caught.value.retryable
    assert caught.value.reason == "PROFILE_CONFLICT"


async def test_marked_retries_are_bounded_by_max_attempts(stub: tuple[Script, str]) -> None:
    script, target = stub
    script.failures, script.error = 100, BUSY
    async with ProvisioningClient(target, max_attempts=2) as client:
        with pytest.raises(AbortedError) as caught:
            await client.suspend_account("acc-1")
    assert script.attempts == 2
    assert caught.value.retryable
    assert caught.value.request_id == script.request_ids[0]


async def test_a_deadline_error_carries_the_request_id_to_retry_with(stub: tuple[Script, str]) -> None:
    script, target = stub
    async with ProvisioningClient(target) as client:
        await client.get_account("warm-up")  # connected: the deadline below is all the server's
        script.delay_s = 2.0
        with pytest.raises(DeadlineExceededError) as caught:
            await client.create_account("p-1", {"email": "a@example.com"}, timeout_s=0.5)
    err = caught.value
    assert script.attempts == 2  # the client's own deadline: the outcome is unknown, not retried
    assert err.request_id
    assert err.request_id == script.request_ids[0]
    assert err.request_id in str(err)


async def test_call_does_not_change_the_callers_request(stub: tuple[Script, str]) -> None:
    script, target = stub
    request = accounts_pb2.SuspendAccountRequest(id="acc-1")
    async with ProvisioningClient(target) as client:
        await client.call(client.accounts.SuspendAccount, request)
        reply = await client.invoke(client.accounts.SuspendAccount, request)
    assert request.request_id == ""
    assert request == accounts_pb2.SuspendAccountRequest(id="acc-1")
    first, second = script.request_ids
    assert first
    assert second
    assert first != second  # each call is a new operation
    assert reply.request_id == second
    assert reply.response.account.id == "acc-1"


async def test_every_mutating_result_and_error_shows_its_request_id(stub: tuple[Script, str]) -> None:
    script, target = stub
    async with ProvisioningClient(target) as client:
        created = await client.create_account("p-1", {"email": "a@example.com"})
        chosen = await client.create_account("p-1", {"email": "a@example.com"}, request_id="order-9")
        script.failures, script.attempts, script.error = 1, 0, CONFLICT
        with pytest.raises(ProvisioningError) as caught:
            await client.suspend_account("acc-1", request_id="mine")
    assert created.request_id == script.request_ids[0]
    assert created.generated_password == "shown-once"
    assert created.account.id == "acc-new"
    assert chosen.request_id == "order-9"
    assert caught.value.request_id == "mine"


async def test_a_channel_passed_in_is_used_left_open_and_carries_the_token(
    stub: tuple[Script, str],
) -> None:
    script, target = stub
    channel = grpc.aio.insecure_channel(target)
    try:
        async with ProvisioningClient(channel=channel, token="s3cret-token") as client:
            assert (await client.get_account("a")).id == "a"
            # No retry policy of ours on that channel: call() retries UNAVAILABLE itself.
            script.failures, script.attempts = 2, 0
            assert (await client.suspend_account("b")).account.id == "b"
            assert script.attempts == 3
        # Closing the client left the caller's channel open.
        stub_on_channel = accounts_pb2_grpc.AccountServiceStub(channel)
        await stub_on_channel.GetAccount(accounts_pb2.GetAccountRequest(id="c"))
    finally:
        await channel.close()
    assert script.metadata[0].get("authorization") == "Bearer s3cret-token"
    with pytest.raises(ValueError, match="channel"):
        ProvisioningClient("127.0.0.1:1", channel=channel, tls=True)


class Recorder(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    def __init__(self) -> None:
        self.methods: list[str] = []

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        self.methods.append(
            client_call_details.method.decode()
            if isinstance(client_call_details.method, bytes)
            else client_call_details.method
        )
        return await continuation(client_call_details, request)


async def test_interceptors_see_every_call(stub: tuple[Script, str]) -> None:
    script, target = stub
    recorder = Recorder()
    async with ProvisioningClient(target, interceptors=[recorder], token="t0ken") as client:
        await client.get_account("a")
        await client.accounts.GetAccount(accounts_pb2.GetAccountRequest(id="b"))
    assert recorder.methods == ["/comet.provisioning.v1.AccountService/GetAccount"] * 2
    assert [m.get("authorization") for m in script.metadata] == ["Bearer t0ken"] * 2


def test_an_error_without_a_reason_prints_no_placeholder() -> None:
    err = ProvisioningError(grpc.StatusCode.UNAVAILABLE, "", "connection refused")
    assert str(err) == "UNAVAILABLE: connection refused"
    named = ProvisioningError(
        grpc.StatusCode.NOT_FOUND, "ACCOUNT_NOT_FOUND", "no such account", request_id="r1"
    )
    assert str(named) == "NOT_FOUND ACCOUNT_NOT_FOUND: no such account (request_id r1)"
