"""Every fault the simulator can inject maps to its error category, and the client recovers.

Server-side counters are the judge: a non-idempotent call must reach Comet exactly once whatever
goes wrong, a read-only one is retried, and once a fault is cleared the same client works again.
Faults in a reply (a proxy's page, an error status) are served in memory; a reset connection, a
server that never answers, a cut stream and a server going away run over loopback HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from comet_provisioning.comet import (
    ClientDownload,
    CometApiError,
    CometAuthFailed,
    CometClient,
    CometConnectionLost,
    CometError,
    CometHashConflict,
    CometLockedOut,
    CometNotCometServer,
    CometTimeout,
    CometUnreachable,
    CometUserExists,
)
from comet_provisioning.sim import DEFAULT_PROVIDER_ID, CometSimulator

from .conftest import MemoryFactory, SimFactory
from .support import USER_PASSWORD, RecordingObserver, sim_client

pytestmark = pytest.mark.timeout(30)

USER = "faulty01"
RETRIES = 2
HANG_TIMEOUT_S = 0.25  # the client's request timeout in hang tests: the hang lasts longer


@dataclass(frozen=True)
class Fault:
    """An injected fault, the error class it must surface as, and that error's documented flags."""

    kind: str
    error: type[CometError]
    http_status: int | None
    api_status: int | None
    retryable: bool

    @property
    def on_the_wire(self) -> bool:
        """Whether only a socket shows it (no reply at all), so it is tested over loopback."""
        return self.kind in ("reset", "hang")


FAULTS = [
    Fault("http502", CometNotCometServer, 502, None, retryable=True),  # a proxy's HTML page
    Fault("http500", CometNotCometServer, 500, None, retryable=True),  # a bare text/plain 500
    Fault("status500", CometApiError, 200, 500, retryable=False),  # HTTP 200, body Status 500
    Fault("reset", CometConnectionLost, None, None, retryable=True),
    Fault("hang", CometTimeout, None, None, retryable=True),
]
FAULT_IDS = [f.kind for f in FAULTS]

Call = Callable[[CometClient], Awaitable[Any]]

READ_ONLY: list[tuple[str, Call]] = [
    ("meta/version", lambda c: c.meta_version()),
    ("get-user-profile", lambda c: c.get_user_profile(USER)),
    ("get-user-profile-and-hash", lambda c: c.get_user_profile_and_hash(USER)),
    ("list-users-full", lambda c: c.list_users_full()),
    ("policies/get", lambda c: c.get_policy("pol-1")),
    ("get-jobs-for-user", lambda c: c.get_jobs_for_user(USER)),
]

NON_IDEMPOTENT: list[tuple[str, Call, Callable[[CometSimulator], bool]]] = [
    (
        "add-user",
        lambda c: c.add_user("newbie01", USER_PASSWORD),
        lambda sim: "newbie01" in sim.state.users,
    ),
    (
        "request-storage-vault",
        lambda c: c.request_storage_vault(USER, DEFAULT_PROVIDER_ID),
        lambda sim: len(sim.state.users[USER].profile["Destinations"]) == 1,
    ),
    (
        "reset-user-password",
        lambda c: c.reset_user_password(USER, "changed-pass-1"),
        lambda sim: sim.state.users[USER].password == "changed-pass-1",
    ),
    (
        "delete-user",
        lambda c: c.delete_user(USER),
        lambda sim: USER not in sim.state.users,
    ),
]


def target_of(endpoint: str) -> str:
    return "newbie01" if endpoint == "add-user" else USER


def add_fault(sim: CometSimulator, endpoint: str, fault: Fault, **kwargs: Any) -> None:
    if fault.kind == "hang":
        kwargs.setdefault("hang_s", 2.0)
    sim.faults.add(endpoint, fault.kind, **kwargs)


def client_for(sim: CometSimulator, observer: RecordingObserver | None = None) -> CometClient:
    return sim_client(sim, observer, max_retries=RETRIES, request_timeout_s=HANG_TIMEOUT_S)


Peer = Callable[[Fault], Awaitable[CometSimulator]]


@pytest.fixture
async def peer_for(make_sim: MemoryFactory, make_loopback_sim: SimFactory) -> Peer:
    """The simulator to inject ``fault`` into: in memory, or on loopback for a fault on the wire."""

    async def pick(fault: Fault) -> CometSimulator:
        sim = await (make_loopback_sim() if fault.on_the_wire else make_sim())
        sim.state.seed_user(USER, "original-pass-1")
        return sim

    return pick


@pytest.fixture
async def wire_sim(make_loopback_sim: SimFactory) -> CometSimulator:
    sim = await make_loopback_sim()
    sim.state.seed_user(USER, "original-pass-1")
    return sim


@pytest.fixture
async def sim(make_sim: MemoryFactory) -> CometSimulator:
    sim = await make_sim()
    sim.state.seed_user(USER, "original-pass-1")
    return sim


def check(error: CometError, fault: Fault) -> None:
    assert type(error) is fault.error
    assert error.retryable is fault.retryable
    assert error.reached_server  # every one of these faults happens after the request arrived
    assert error.http_status == fault.http_status
    assert error.api_status == fault.api_status
    assert error.server_id == "sim"


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
async def test_fault_maps_to_its_category(peer_for: Peer, fault: Fault) -> None:
    sim = await peer_for(fault)
    observer = RecordingObserver()
    add_fault(sim, "list-users", fault)
    async with client_for(sim, observer) as client:
        with pytest.raises(CometError) as caught:
            await client.list_users()
        check(caught.value, fault)
        attempts = 1 + RETRIES if fault.retryable else 1
        assert sim.counters.calls["list-users"] == attempts
        assert observer.outcomes("list-users") == [fault.error.kind] * attempts
        if fault.kind == "http502":
            assert "text/html" in caught.value.message

        sim.faults.clear()
        assert await client.list_users() == [USER]  # recovered, same client, nothing to reset
    assert observer.outcomes("list-users")[-1] == "ok"


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.retryable], ids=lambda f: f.kind)
@pytest.mark.parametrize(("endpoint", "call"), READ_ONLY, ids=[e for e, _ in READ_ONLY])
async def test_read_only_calls_retry_through_a_passing_fault(
    peer_for: Peer, endpoint: str, call: Call, fault: Fault
) -> None:
    sim = await peer_for(fault)
    add_fault(sim, endpoint, fault, count=RETRIES)
    async with client_for(sim) as client:
        await call(client)
    assert sim.counters.calls[endpoint] == RETRIES + 1
    assert sim.counters.committed[endpoint] == 1


@pytest.mark.parametrize("fault", FAULTS, ids=FAULT_IDS)
@pytest.mark.parametrize(
    ("endpoint", "call", "happened"), NON_IDEMPOTENT, ids=[e for e, _, _ in NON_IDEMPOTENT]
)
async def test_non_idempotent_calls_are_sent_exactly_once(
    peer_for: Peer,
    endpoint: str,
    call: Call,
    happened: Callable[[CometSimulator], bool],
    fault: Fault,
) -> None:
    sim = await peer_for(fault)
    add_fault(sim, endpoint, fault)
    async with client_for(sim) as client:
        with pytest.raises(CometError) as caught:
            await call(client)
        check(caught.value, fault)
        assert sim.counters.calls_for(endpoint, target_of(endpoint)) == 1
        assert sim.counters.commits_for(endpoint, target_of(endpoint)) == 0
        assert not happened(sim)

        sim.faults.clear()
        await call(client)  # the caller (the provisioning core) decides to try again: it works
    assert sim.counters.calls_for(endpoint, target_of(endpoint)) == 2
    assert happened(sim)


@pytest.mark.parametrize(
    "fault", [f for f in FAULTS if f.kind in ("http502", "reset", "hang")], ids=lambda f: f.kind
)
async def test_add_user_committed_but_reply_lost(peer_for: Peer, fault: Fault) -> None:
    """The account exists although the client saw a failure: it must not re-send add-user."""
    sim, kind = await peer_for(fault), fault.kind
    sim.faults.add("add-user", kind, count=1, after_commit=True, hang_s=2.0)
    expected = {"http502": CometNotCometServer, "reset": CometConnectionLost, "hang": CometTimeout}[kind]
    async with client_for(sim) as client:
        with pytest.raises(expected) as caught:
            await client.add_user("lostreply", USER_PASSWORD)
        assert caught.value.reached_server
        assert sim.counters.calls_for("add-user", "lostreply") == 1
        assert sim.counters.commits_for("add-user", "lostreply") == 1
        assert "lostreply" in sim.state.users

        # Reconciling: a read shows the account is there; a blind re-send is refused as a duplicate.
        assert (await client.get_user_profile("lostreply"))["Username"] == "lostreply"
        with pytest.raises(CometUserExists):
            await client.add_user("lostreply", USER_PASSWORD)
    assert sim.counters.commits_for("add-user", "lostreply") == 1


async def test_fail_after_commit_helper_on_add_user(wire_sim: CometSimulator) -> None:
    wire_sim.faults.fail_after_commit("add-user", "reset", target_user="victim01")
    async with client_for(wire_sim) as client:
        await client.add_user("bystander", USER_PASSWORD)  # another user is unaffected
        with pytest.raises(CometConnectionLost):
            await client.add_user("victim01", USER_PASSWORD)
    assert wire_sim.counters.calls_for("add-user", "victim01") == 1
    assert wire_sim.counters.commits_for("add-user", "victim01") == 1
    assert wire_sim.counters.faults["reset_after_commit"] == 1


async def test_hang_is_cut_by_the_client_timeout(wire_sim: CometSimulator) -> None:
    wire_sim.faults.add("meta/version", "hang", hang_s=5.0)
    loop = asyncio.get_running_loop()
    async with sim_client(wire_sim, max_retries=0, request_timeout_s=0.2) as client:
        started = loop.time()
        with pytest.raises(CometTimeout) as caught:
            await client.meta_version()
        assert loop.time() - started < 1.0
        assert caught.value.reached_server
        # A caller deadline shorter than the request timeout wins too.
        started = loop.time()
        with pytest.raises(CometTimeout):
            await client.meta_version(timeout_s=0.1)
        assert loop.time() - started < 0.5


async def test_login_lockout_after_failures_and_recovery(sim: CometSimulator) -> None:
    sim.faults.set_lockout(3, cooldown_s=0.4)
    async with sim_client(sim, password="wrong-password-1") as bad:
        for _ in range(3):
            with pytest.raises(CometAuthFailed) as failed:
                await bad.meta_version()
            assert not failed.value.retryable
    assert sim.counters.auth_failures == 3  # auth failures are never retried

    async with sim_client(sim) as good:
        with pytest.raises(CometLockedOut) as caught:
            await good.get_user_profile(USER)  # even the right password, from this source
        err = caught.value
        assert (err.http_status, err.api_status) == (429, 429)
        assert not err.retryable
        assert err.reached_server
        assert sim.counters.lockouts == 1  # not retried: hammering extends nothing useful

        await asyncio.sleep(0.45)  # the cooldown passes
        assert (await good.get_user_profile(USER))["Username"] == USER


async def test_lockout_cleared_by_the_operator(sim: CometSimulator) -> None:
    sim.faults.set_lockout(1, cooldown_s=60)
    async with sim_client(sim, password="wrong-password-1") as bad:
        with pytest.raises(CometAuthFailed):
            await bad.list_users()
    async with sim_client(sim) as good:
        with pytest.raises(CometLockedOut):
            await good.list_users()
        sim.faults.clear()
        assert await good.list_users() == [USER]


async def test_forced_hash_conflict(sim: CometSimulator) -> None:
    sim.faults.force_hash_conflicts(1)
    async with client_for(sim) as client:
        read = await client.get_user_profile_and_hash(USER)
        with pytest.raises(CometHashConflict) as caught:
            await client.set_user_profile_hash(USER, dict(read.profile, IsSuspended=True), read.hash)
        assert (caught.value.http_status, caught.value.api_status) == (200, 409)
        assert not caught.value.retryable
        assert caught.value.reached_server
        assert sim.counters.calls_for("set-user-profile-hash", USER) == 1  # never blindly re-sent
        assert sim.state.users[USER].profile["IsSuspended"] is False

        # The protocol recovers: re-read, re-apply, write with the fresh hash.
        sim.faults.force_hash_conflicts(1)
        await client.update_user_profile(USER, lambda p: p.update(IsSuspended=True))
    assert sim.state.users[USER].profile["IsSuspended"] is True
    assert sim.counters.faults["hash_conflict"] == 2


async def test_random_failures_are_absorbed_by_read_retries(wire_sim: CometSimulator) -> None:
    # About one attempt in four fails; nine attempts make a call that never succeeds vanishingly rare.
    wire_sim.faults.add("get-user-profile", "http502", rate=0.2)
    wire_sim.faults.add("get-user-profile", "reset", rate=0.05)
    observer = RecordingObserver()
    async with sim_client(wire_sim, observer, max_retries=8) as client:
        profiles = await asyncio.gather(*(client.get_user_profile(USER) for _ in range(60)))
    assert all(p["Username"] == USER for p in profiles)
    failures = [o for o in observer.outcomes() if o != "ok"]
    assert failures  # faults did fire, and were absorbed
    assert set(failures) <= {"not_comet_server", "connection_lost"}
    assert wire_sim.counters.calls["get-user-profile"] == 60 + len(failures)


async def drain(client: CometClient, seen: list[ClientDownload]) -> None:
    async with client.download_client("linuxgeneric") as download:
        seen.append(download)
        async for _chunk in download.iter_chunks():
            pass


async def test_download_faults(wire_sim: CometSimulator) -> None:
    wire_sim.settings.installer_size = 512 * 1024
    endpoint = "branding/generate-client/linuxgeneric"
    wire_sim.faults.add("branding/*", "http502", count=1)
    async with client_for(wire_sim) as client:
        # Before the first byte a download is a read: retried.
        async with client.download_client("linuxgeneric") as download:
            received = sum([len(chunk) async for chunk in download.iter_chunks()])
        assert received == 512 * 1024
        assert wire_sim.counters.calls[endpoint] == 2

        # Cut half-way: surfaced as a lost connection while streaming, and not retried.
        wire_sim.faults.fail_after_commit("branding/*", "reset")
        seen: list[ClientDownload] = []
        with pytest.raises(CometConnectionLost) as caught:
            await drain(client, seen)
        assert caught.value.reached_server
        assert not seen[0].complete
        assert seen[0].bytes_read < 512 * 1024
        assert wire_sim.counters.calls[endpoint] == 3
        assert wire_sim.counters.faults["reset_mid_stream"] == 1

        async with client.download_client("linuxgeneric") as download:
            received = sum([len(chunk) async for chunk in download.iter_chunks()])
        assert received == 512 * 1024


async def test_server_down_then_back(wire_sim: CometSimulator) -> None:
    assert wire_sim.base_url is not None
    port = int(wire_sim.base_url.rsplit(":", 1)[1])
    async with client_for(wire_sim) as client:
        assert await client.list_users() == [USER]
        await wire_sim.stop()
        with pytest.raises((CometUnreachable, CometConnectionLost)) as caught:
            await client.list_users()
        assert caught.value.retryable
        with pytest.raises(CometUnreachable) as refused:
            await client.add_user("whiledown", USER_PASSWORD)
        assert not refused.value.reached_server  # provably never sent: safe to retry even add-user

        await wire_sim.start(host="127.0.0.1", port=port)
        assert await client.list_users() == [USER]
        await client.add_user("afterback", USER_PASSWORD)
    assert wire_sim.counters.calls_for("add-user", "afterback") == 1
