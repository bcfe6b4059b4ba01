"""Read-only calls retry transient failures; mutating calls are sent once unless provably never sent."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from comet_provisioning.comet import (
    CometClient,
    CometConnectionLost,
    CometError,
    CometNotCometServer,
    CometTimeout,
    CometUnreachable,
)

from .support import RecordingObserver, make_config, refused, sent_forms, url

HTML_502: dict[str, Any] = {"status": 502, "body": "<html>Bad Gateway</html>", "content_type": "text/html"}
CARM = {"Status": 200, "Message": "OK"}

Call = Callable[[CometClient], Awaitable[Any]]

READ_ONLY: list[tuple[str, Call, Any]] = [
    ("meta/version", lambda c: c.meta_version(), {"Version": "24.12.2"}),
    ("account/properties", lambda c: c.account_properties(), {}),
    ("get-user-profile", lambda c: c.get_user_profile("alice"), {"Username": "alice"}),
    (
        "get-user-profile-and-hash",
        lambda c: c.get_user_profile_and_hash("alice"),
        {"Status": 200, "ProfileHash": "h", "Profile": {}},
    ),
    ("list-users", lambda c: c.list_users(), []),
    ("list-users-full", lambda c: c.list_users_full(), {}),
    ("policies/list", lambda c: c.list_policies(), {}),
    ("policies/get", lambda c: c.get_policy("p"), {"Status": 200, "PolicyHash": "", "Policy": {}}),
    ("request-storage-vault-providers", lambda c: c.list_storage_providers(), {}),
    ("dispatcher/list-active", lambda c: c.list_active_connections(), {}),
    ("get-jobs-for-user", lambda c: c.get_jobs_for_user("alice"), []),
    ("get-jobs-for-custom-search", lambda c: c.get_jobs_for_custom_search({}), []),
]

MUTATING: list[tuple[str, Call, Any]] = [
    ("add-user", lambda c: c.add_user("alice", "user-pass-123"), CARM),
    (
        "request-storage-vault",
        lambda c: c.request_storage_vault("alice", "prov"),
        {"Status": 200, "DestinationID": "d"},
    ),
    ("delete-user", lambda c: c.delete_user("alice"), CARM),
    ("reset-user-password", lambda c: c.reset_user_password("alice", "new-pass-123"), CARM),
    ("set-user-profile-hash", lambda c: c.set_user_profile_hash("alice", {}, "h"), CARM),
    ("set-user-profile", lambda c: c.set_user_profile("alice", {}), CARM),
    ("policies/set", lambda c: c.set_policy("p", {}), CARM),
    ("policies/new", lambda c: c.new_policy({}), {"Status": 200, "PolicyHash": "h"}),
]


def ids(cases: list[tuple[str, Call, Any]]) -> list[str]:
    return [case[0] for case in cases]


@pytest.mark.parametrize(("endpoint", "call", "success"), READ_ONLY, ids=ids(READ_ONLY))
async def test_read_only_calls_retry_until_the_fault_clears(
    client: CometClient,
    mock: aioresponses,
    observer: RecordingObserver,
    endpoint: str,
    call: Call,
    success: Any,
) -> None:
    mock.post(url(endpoint), **HTML_502)
    mock.post(url(endpoint), exception=aiohttp.ServerDisconnectedError())
    mock.post(url(endpoint), exception=TimeoutError())
    mock.post(url(endpoint), payload=success)

    await call(client)

    assert len(sent_forms(mock, endpoint)) == 4
    assert observer.outcomes(endpoint) == ["not_comet_server", "connection_lost", "timeout", "ok"]
    assert [r.attempt for r in observer.records] == [1, 2, 3, 4]


async def test_read_only_retries_are_bounded(client: CometClient, mock: aioresponses) -> None:
    mock.post(url("list-users"), repeat=True, **HTML_502)
    with pytest.raises(CometNotCometServer):
        await client.list_users()
    assert len(sent_forms(mock, "list-users")) == 1 + client.config.max_retries


async def test_non_transient_errors_are_not_retried(client: CometClient, mock: aioresponses) -> None:
    mock.post(url("list-users"), repeat=True, payload={"Status": 403, "Message": "Unauthorised"})
    with pytest.raises(CometError):
        await client.list_users()
    assert len(sent_forms(mock, "list-users")) == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (HTML_502, CometNotCometServer),
        ({"exception": TimeoutError()}, CometTimeout),
        ({"exception": aiohttp.ServerDisconnectedError()}, CometConnectionLost),
        ({"status": 503, "payload": {"Status": 503, "Message": "busy"}}, CometError),
    ],
    ids=["html502", "timeout", "disconnected", "json503"],
)
@pytest.mark.parametrize(("endpoint", "call", "success"), MUTATING, ids=ids(MUTATING))
async def test_mutating_calls_are_sent_exactly_once_when_they_may_have_arrived(
    client: CometClient,
    mock: aioresponses,
    endpoint: str,
    call: Call,
    success: Any,
    fault: dict[str, Any],
    error: type[CometError],
) -> None:
    mock.post(url(endpoint), **fault)
    mock.post(url(endpoint), payload=success)

    with pytest.raises(error) as caught:
        await call(client)

    assert caught.value.reached_server
    assert len(sent_forms(mock, endpoint)) == 1


@pytest.mark.parametrize(("endpoint", "call", "success"), MUTATING, ids=ids(MUTATING))
async def test_mutating_calls_retry_when_never_sent(
    client: CometClient, mock: aioresponses, endpoint: str, call: Call, success: Any
) -> None:
    mock.post(url(endpoint), exception=refused())
    mock.post(url(endpoint), exception=refused())
    mock.post(url(endpoint), payload=success)

    await call(client)

    assert len(sent_forms(mock, endpoint)) == 3


async def test_unreachable_gives_up_after_max_retries(
    mock: aioresponses, observer: RecordingObserver
) -> None:
    async with CometClient(make_config(max_retries=2), observer=observer) as c:
        mock.post(url("add-user"), repeat=True, exception=refused())
        with pytest.raises(CometUnreachable):
            await c.add_user("alice", "user-pass-123")
    assert observer.outcomes() == ["unreachable"] * 3


async def test_retries_never_sleep_past_the_callers_deadline(
    mock: aioresponses, observer: RecordingObserver
) -> None:
    config = make_config(max_retries=10, retry_backoff_base_s=5.0, retry_backoff_max_s=5.0)
    async with CometClient(config, observer=observer) as c:
        mock.post(url("list-users"), repeat=True, exception=refused())
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(CometUnreachable):
            await c.list_users(timeout_s=0.3)
        elapsed = loop.time() - started
    assert elapsed < 2.0  # a single backoff sleep would take 5 s
    assert len(sent_forms(mock, "list-users")) >= 1


async def test_an_exhausted_deadline_sends_nothing(client: CometClient, mock: aioresponses) -> None:
    mock.post(url("add-user"), payload=CARM)
    with pytest.raises(CometTimeout) as caught:
        await client.add_user("alice", "user-pass-123", timeout_s=0)
    assert not caught.value.reached_server
    assert sent_forms(mock, "add-user") == []


def test_backoff_is_bounded_full_jitter() -> None:
    from comet_provisioning.comet.retry import backoff_delay

    delays = [backoff_delay(attempt, 0.1, 1.0) for attempt in range(1, 10) for _ in range(50)]
    assert min(delays) >= 0
    assert max(delays) <= 1.0
    assert len({round(d, 6) for d in delays}) > 100  # jittered, not a fixed schedule
    assert max(backoff_delay(1, 0.1, 1.0) for _ in range(200)) <= 0.1
