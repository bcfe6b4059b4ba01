"""Read-only calls retry transient failures; mutating calls are sent once unless provably never sent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from comet_provisioning.comet import (
    CometClient,
    CometConnectionLost,
    CometError,
    CometNotCometServer,
    CometTimeout,
    CometUnreachable,
    ConnectFailed,
    TransportTimeout,
)
from comet_provisioning.sim import DEFAULT_PROVIDER_ID

from tests.fakes.memory_comet import MemoryComet

from .support import RecordingObserver, carm, memory_client

REFUSED = "ConnectionRefusedError: [Errno 111] Connection refused"
HANG_TIMEOUT_S = 0.05  # the request timeout of an attempt that hangs (the hang lasts longer)

ALICES_JOBS = {
    "ClauseType": "",
    "RuleField": "BackupJobDetail.Username",
    "RuleOperator": "str_eq",
    "RuleValue": "alice",
    "ClauseChildren": [],
}

Call = Callable[[CometClient], Awaitable[Any]]

READ_ONLY: list[tuple[str, Call]] = [
    ("meta/version", lambda c: c.meta_version()),
    ("account/properties", lambda c: c.account_properties()),
    ("get-user-profile", lambda c: c.get_user_profile("alice")),
    ("get-user-profile-and-hash", lambda c: c.get_user_profile_and_hash("alice")),
    ("list-users", lambda c: c.list_users()),
    ("list-users-full", lambda c: c.list_users_full()),
    ("policies/list", lambda c: c.list_policies()),
    ("policies/get", lambda c: c.get_policy("p")),
    ("request-storage-vault-providers", lambda c: c.list_storage_providers()),
    ("dispatcher/list-active", lambda c: c.list_active_connections()),
    ("get-jobs-for-user", lambda c: c.get_jobs_for_user("alice")),
    ("get-jobs-for-custom-search", lambda c: c.get_jobs_for_custom_search(ALICES_JOBS)),
]

# (endpoint, call, whether it took effect on the simulator), against a seeded "alice".
MUTATING: list[tuple[str, Call, Callable[[MemoryComet], bool]]] = [
    ("add-user", lambda c: c.add_user("newbie01", "user-pass-123"), lambda s: "newbie01" in s.state.users),
    (
        "request-storage-vault",
        lambda c: c.request_storage_vault("alice", DEFAULT_PROVIDER_ID),
        lambda s: bool(s.state.users["alice"].profile["Destinations"]),
    ),
    ("delete-user", lambda c: c.delete_user("alice"), lambda s: "alice" not in s.state.users),
    (
        "reset-user-password",
        lambda c: c.reset_user_password("alice", "new-pass-123"),
        lambda s: s.state.users["alice"].password == "new-pass-123",
    ),
    (
        "set-user-profile-hash",
        lambda c: c.update_user_profile("alice", lambda p: p.update(MaximumDevices=4)),
        lambda s: s.state.users["alice"].profile["MaximumDevices"] == 4,
    ),
    (
        "set-user-profile",
        lambda c: c.set_user_profile("alice", {"Username": "alice", "MaximumDevices": 4}),
        lambda s: s.state.users["alice"].profile["MaximumDevices"] == 4,
    ),
    ("policies/set", lambda c: c.set_policy("p", {"Description": "d"}), lambda s: "p" in s.state.policies),
    ("policies/new", lambda c: c.new_policy({"Description": "d"}), lambda s: bool(s.state.policies)),
]


def ids(cases: Sequence[tuple[Any, ...]]) -> list[str]:
    return [case[0] for case in cases]


@pytest.fixture(autouse=True)
def alice(comet: MemoryComet) -> None:
    comet.state.seed_user("alice", "old-pass-123")


@pytest.mark.parametrize(("endpoint", "call"), READ_ONLY, ids=ids(READ_ONLY))
async def test_read_only_calls_retry_until_the_fault_clears(
    comet: MemoryComet, observer: RecordingObserver, endpoint: str, call: Call
) -> None:
    # A timeout is scripted so that no attempt races a short request timeout; the simulator
    # answers the rest: a proxy's 502, a reset connection, and at last the reply.
    comet.fail(endpoint, TransportTimeout("no reply in time", request_sent=True))
    comet.faults.add(endpoint, "http502", count=1)
    comet.faults.add(endpoint, "reset", count=1)

    async with memory_client(comet, observer=observer) as client:
        await call(client)

    assert comet.calls(endpoint) == 4
    assert comet.counters.calls[endpoint] == 3
    assert comet.counters.committed[endpoint] == 1
    assert observer.outcomes(endpoint) == ["timeout", "not_comet_server", "connection_lost", "ok"]
    assert [r.attempt for r in observer.records] == [1, 2, 3, 4]


async def test_read_only_retries_are_bounded(client: CometClient, comet: MemoryComet) -> None:
    comet.faults.add("list-users", "http502")
    with pytest.raises(CometNotCometServer):
        await client.list_users()
    assert comet.counters.calls["list-users"] == 1 + client.config.max_retries


async def test_non_transient_errors_are_not_retried(comet: MemoryComet) -> None:
    async with memory_client(comet, password="not-the-admin-password") as client:
        with pytest.raises(CometError):
            await client.list_users()
    assert comet.counters.calls["list-users"] == 1


FAULTS: list[tuple[str, type[CometError]]] = [
    ("http502", CometNotCometServer),  # a proxy's HTML page: the call may have gone through
    ("hang", CometTimeout),
    ("reset", CometConnectionLost),
]


@pytest.mark.parametrize(("fault", "error"), FAULTS, ids=[f for f, _ in FAULTS])
@pytest.mark.parametrize(("endpoint", "call", "happened"), MUTATING, ids=ids(MUTATING))
async def test_mutating_calls_are_sent_exactly_once_when_they_may_have_arrived(
    comet: MemoryComet,
    endpoint: str,
    call: Call,
    happened: Callable[[MemoryComet], bool],
    fault: str,
    error: type[CometError],
) -> None:
    comet.faults.add(endpoint, fault, count=1, hang_s=5.0)
    timeout_s = HANG_TIMEOUT_S if fault == "hang" else 5.0
    async with memory_client(comet, request_timeout_s=timeout_s) as client:
        with pytest.raises(error) as caught:
            await call(client)
    assert caught.value.reached_server
    assert comet.counters.calls[endpoint] == 1
    assert not happened(comet)


@pytest.mark.parametrize(("endpoint", "call", "happened"), MUTATING, ids=ids(MUTATING))
async def test_a_json_503_is_not_resent_either(
    comet: MemoryComet, endpoint: str, call: Call, happened: Callable[[MemoryComet], bool]
) -> None:
    comet.reply(endpoint, carm(503, "busy"), status=503)
    async with memory_client(comet) as client:
        with pytest.raises(CometError) as caught:
            await call(client)
    assert caught.value.reached_server
    assert comet.calls(endpoint) == 1
    assert not happened(comet)


@pytest.mark.parametrize(("endpoint", "call", "happened"), MUTATING, ids=ids(MUTATING))
async def test_mutating_calls_retry_when_never_sent(
    comet: MemoryComet, endpoint: str, call: Call, happened: Callable[[MemoryComet], bool]
) -> None:
    comet.fail(endpoint, ConnectFailed(REFUSED), times=2)

    async with memory_client(comet) as client:
        await call(client)

    assert comet.calls(endpoint) == 3
    assert comet.counters.calls[endpoint] == 1  # the third attempt reached Comet, once
    assert happened(comet)


async def test_unreachable_gives_up_after_max_retries(
    comet: MemoryComet, observer: RecordingObserver
) -> None:
    comet.fail("add-user", ConnectFailed(REFUSED), times=None)
    async with memory_client(comet, observer=observer, max_retries=2) as client:
        with pytest.raises(CometUnreachable):
            await client.add_user("alice", "user-pass-123")
    assert observer.outcomes() == ["unreachable"] * 3


async def test_retries_never_sleep_past_the_callers_deadline(
    comet: MemoryComet, observer: RecordingObserver
) -> None:
    comet.fail("list-users", ConnectFailed(REFUSED), times=None)
    async with memory_client(
        comet, observer=observer, max_retries=10, retry_backoff_base_s=5.0, retry_backoff_max_s=5.0
    ) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(CometUnreachable):
            await client.list_users(timeout_s=0.3)
        elapsed = loop.time() - started
    assert elapsed < 2.0  # a single backoff sleep would take 5 s
    assert comet.calls("list-users") >= 1


async def test_an_exhausted_deadline_sends_nothing(client: CometClient, comet: MemoryComet) -> None:
    with pytest.raises(CometTimeout) as caught:
        await client.add_user("newbie01", "user-pass-123", timeout_s=0)
    assert not caught.value.reached_server
    assert comet.sent("add-user") == []


def test_backoff_is_bounded_full_jitter() -> None:
    from comet_provisioning.comet.retry import backoff_delay

    delays = [backoff_delay(attempt, 0.1, 1.0) for attempt in range(1, 10) for _ in range(50)]
    assert min(delays) >= 0
    assert max(delays) <= 1.0
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not a fixed schedule
    assert max(backoff_delay(1, 0.1, 1.0) for _ in range(200)) <= 0.1
