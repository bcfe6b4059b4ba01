"""The client over real loopback HTTP to the simulator: what only sockets show.

Timeouts at the socket, a connection queue, refused connections, the bytes of a form on the wire,
an error reply to a streaming call, closing a session under a running call, and TLS. (The pool's
limit and streamed downloads are measured against the simulator in ``tests/contract``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from comet_provisioning.comet import (
    CometAuthFailed,
    CometClient,
    CometClientRegistry,
    CometTimeout,
    CometTLSError,
    CometUnreachable,
)
from comet_provisioning.sim import CometSimulator
from comet_provisioning.sim.app import build_app

from tests.fixtures.pki import TestCA

from .support import ADMIN, ADMIN_PASSWORD, RecordingObserver, make_config

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def sim() -> AsyncIterator[CometSimulator]:
    async with CometSimulator(admin_user=ADMIN, admin_password=ADMIN_PASSWORD, seed=1) as started:
        started.state.seed_user("alice")
        yield started


def real_client(
    sim: CometSimulator, observer: RecordingObserver | None = None, **overrides: object
) -> CometClient:
    return CometClient(make_config(base_url=sim.base_url, **overrides), observer=observer)


def slow(sim: CometSimulator, endpoint: str, seconds: float) -> None:
    """Every call of ``endpoint`` answers, but only after ``seconds``."""
    sim.faults.add(endpoint, "delay", delay_ms=seconds * 1000)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_form_on_the_wire(sim: CometSimulator) -> None:
    async with real_client(sim) as client:
        await client.add_user("bob0001", "user-pass-123", require_password_change=True)
        await client.delete_user("alice", uninstall=True)

    # What the server parsed from the bodies: every field arrived, encoded as Comet reads it.
    record = sim.state.users["bob0001"]
    assert record.password == "user-pass-123"
    assert record.recovery_code is not None  # StoreRecoveryCode=1
    assert record.profile["RequirePasswordChange"] is True
    assert sim.state.deleted_users[-1]["UninstallConfig"] == {
        "UninstallFlag": True,
        "RemoveConfigFile": False,
    }
    assert sim.counters.auth_failures == 0


async def test_connection_refused_is_unreachable_and_retried() -> None:
    observer = RecordingObserver()
    config = make_config(base_url=f"http://127.0.0.1:{unused_port()}", max_retries=2)
    async with CometClient(config, observer=observer) as client:
        with pytest.raises(CometUnreachable) as caught:
            await client.meta_version()
        # Never reached the server, so even a non-idempotent call may be re-sent.
        with pytest.raises(CometUnreachable):
            await client.add_user("alice", "user-pass-123")
    assert not caught.value.reached_server
    assert observer.outcomes("meta/version") == ["unreachable"] * 3
    assert observer.outcomes("add-user") == ["unreachable"] * 3


async def test_timed_out_add_user_is_sent_once(sim: CometSimulator) -> None:
    slow(sim, "add-user", 0.6)
    async with real_client(sim, request_timeout_s=0.2) as client:
        with pytest.raises(CometTimeout) as caught:
            await client.add_user("bob0001", "user-pass-123")
    assert caught.value.reached_server
    assert sim.counters.calls_for("add-user", "bob0001") == 1


async def test_timed_out_read_only_call_is_retried(sim: CometSimulator) -> None:
    slow(sim, "list-users", 0.6)
    async with real_client(sim, request_timeout_s=0.1, max_retries=2) as client:
        with pytest.raises(CometTimeout):
            await client.list_users()
    assert sim.counters.calls["list-users"] == 3


async def test_timeout_while_queued_for_a_connection_was_never_sent(sim: CometSimulator) -> None:
    slow(sim, "list-users", 0.5)
    async with real_client(sim, max_connections=1) as client:
        holder = asyncio.create_task(client.list_users())
        await asyncio.sleep(0.05)
        with pytest.raises(CometTimeout) as caught:
            await client.add_user("bob0001", "user-pass-123", timeout_s=0.1)
        assert await holder == ["alice"]
    assert not caught.value.reached_server
    assert sim.counters.calls["add-user"] == 0


async def test_download_error_reply_is_classified(sim: CometSimulator) -> None:
    async with real_client(sim, password="wrong-password") as client:
        with pytest.raises(CometAuthFailed) as caught:
            async with client.download_client("linuxgeneric"):
                pytest.fail("must not get here")
    assert caught.value.api_status == 403
    assert sim.counters.bytes_streamed == 0


async def test_replaced_client_lets_running_calls_finish(sim: CometSimulator) -> None:
    slow(sim, "list-users", 0.2)
    registry = CometClientRegistry(close_grace_s=5)
    old = await registry.get(make_config(base_url=sim.base_url))
    running = asyncio.create_task(old.list_users())
    await asyncio.sleep(0.05)
    new = await registry.get(make_config(base_url=sim.base_url, max_connections=2))
    assert await running == ["alice"]
    assert await new.list_users() == ["alice"]
    await registry.aclose()
    assert old.closed


# -- TLS ----------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def served_over_tls(sim: CometSimulator, context: ssl.SSLContext) -> AsyncIterator[str]:
    """The simulator's application behind a TLS listener on loopback; yields its https URL."""
    runner = web.AppRunner(build_app(sim.context), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        port = runner.addresses[0][1]
        yield f"https://localhost:{port}"
    finally:
        await runner.cleanup()


async def test_tls_verification(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    leaf = ca.issue("localhost", server=True)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(leaf.cert_file, leaf.key_file)
    sim = CometSimulator(admin_user=ADMIN, admin_password=ADMIN_PASSWORD, version="24.12.2")
    async with served_over_tls(sim, server_ctx) as base:
        async with CometClient(make_config(base_url=base, max_retries=0)) as default:
            with pytest.raises(CometTLSError) as caught:
                await default.meta_version()
        assert not caught.value.reached_server
        assert not caught.value.retryable
        async with CometClient(make_config(base_url=base, ca_file=str(ca.cert_file))) as trusted:
            assert (await trusted.meta_version()).version == "24.12.2"
        async with CometClient(make_config(base_url=base, verify_tls=False)) as unverified:
            assert (await unverified.meta_version()).version == "24.12.2"
    assert sim.counters.calls["meta/version"] == 2
