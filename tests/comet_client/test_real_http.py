"""The client over real loopback HTTP: pool limits, timeouts, refused connections, streaming, TLS."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from comet_provisioning.comet import (
    CometAuthFailed,
    CometClient,
    CometClientRegistry,
    CometTimeout,
    CometTLSError,
    CometUnreachable,
)

from tests.fixtures.pki import TestCA

from .support import ADMIN, ADMIN_PASSWORD, RecordingObserver, make_config
from .tiny_comet import TinyComet

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def comet() -> AsyncIterator[TinyComet]:
    server = TinyComet()
    server.base_url = await server.start()  # type: ignore[attr-defined]
    yield server
    await server.stop()


def real_client(comet: TinyComet, observer: RecordingObserver | None = None, **overrides: Any) -> CometClient:
    return CometClient(make_config(base_url=comet.base_url, **overrides), observer=observer)  # type: ignore[attr-defined]


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_pool_never_opens_more_than_max_connections(comet: TinyComet) -> None:
    comet.delays["meta/version"] = 0.01
    observer = RecordingObserver()
    async with real_client(comet, observer, max_connections=10) as client:
        results = await asyncio.gather(*(client.meta_version() for _ in range(200)))

    assert len(results) == 200
    assert comet.counts["meta/version"] == 200
    assert comet.server.peak_connections <= 10
    assert comet.peak_in_flight <= 10
    assert comet.peak_in_flight >= 5  # the calls really did run in parallel
    assert comet.server.total_connections <= 10  # connections are kept alive and reused
    assert observer.outcomes() == ["ok"] * 200
    assert max(r.pool_wait_s for r in observer.records) > 0  # queued calls measured their wait


async def test_form_on_the_wire(comet: TinyComet) -> None:
    async with real_client(comet) as client:
        await client.add_user("alice", "user-pass-123", require_password_change=True)
        await client.delete_user("alice", uninstall=True)

    [add] = comet.forms["add-user"]
    assert add == {
        "Username": ADMIN,
        "AuthType": "Password",
        "Password": ADMIN_PASSWORD,
        "TargetUser": "alice",
        "TargetPassword": "user-pass-123",
        "StoreRecoveryCode": "1",
        "RequirePasswordChange": "1",
    }
    [delete] = comet.forms["delete-user"]
    assert json.loads(delete["UninstallConfig"]) == {"UninstallFlag": True, "RemoveConfigFile": False}


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


async def test_timed_out_add_user_is_sent_once(comet: TinyComet) -> None:
    comet.delays["add-user"] = 0.6
    async with real_client(comet, request_timeout_s=0.2) as client:
        with pytest.raises(CometTimeout) as caught:
            await client.add_user("alice", "user-pass-123")
    assert caught.value.reached_server
    assert comet.counts["add-user"] == 1


async def test_timed_out_read_only_call_is_retried(comet: TinyComet) -> None:
    comet.delays["list-users"] = 0.6
    async with real_client(comet, request_timeout_s=0.1, max_retries=2) as client:
        with pytest.raises(CometTimeout):
            await client.list_users()
    assert comet.counts["list-users"] == 3


async def test_timeout_while_queued_for_a_connection_was_never_sent(comet: TinyComet) -> None:
    comet.delays["list-users"] = 0.5
    async with real_client(comet, max_connections=1) as client:
        holder = asyncio.create_task(client.list_users())
        await asyncio.sleep(0.05)
        with pytest.raises(CometTimeout) as caught:
            await client.add_user("alice", "user-pass-123", timeout_s=0.1)
        assert await holder == ["alice"]
    assert not caught.value.reached_server
    assert comet.counts["add-user"] == 0


async def test_download_streams_without_buffering(comet: TinyComet) -> None:
    observer = RecordingObserver()
    async with real_client(comet, observer) as client:
        tracemalloc.start()
        try:
            async with client.download_client("windows-x86_64-zip") as download:
                assert download.filename == "CometBackup-Setup.zip"
                assert download.size == comet.stream_size
                total = 0
                biggest = 0
                async for chunk in download.iter_chunks(64 * 1024):
                    total += len(chunk)
                    biggest = max(biggest, len(chunk))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert total == comet.stream_size
    assert biggest <= 64 * 1024
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes: the download was buffered"
    assert observer.outcomes() == ["ok"]


async def test_cancelling_a_download_closes_the_upstream_response(comet: TinyComet) -> None:
    comet.stream_pause_s = 0.001
    observer = RecordingObserver()
    got_some = asyncio.Event()

    async with real_client(comet, observer) as client:

        async def consume() -> None:
            async with client.download_client("linuxgeneric") as download:
                async for _ in download.iter_chunks():
                    got_some.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(got_some.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(comet.stream_hung_up.wait(), 5)

    assert comet.stream_bytes_sent < comet.stream_size
    assert not comet.stream_finished.is_set()
    assert observer.outcomes() == ["cancelled"]


async def test_leaving_a_download_early_closes_it(comet: TinyComet) -> None:
    comet.stream_pause_s = 0.001
    observer = RecordingObserver()
    async with real_client(comet, observer) as client:
        async with client.download_client("linuxgeneric") as download:
            async for _ in download.iter_chunks():
                break
        await asyncio.wait_for(comet.stream_hung_up.wait(), 5)
    assert observer.outcomes() == ["abandoned"]


async def test_download_filename_without_content_disposition(comet: TinyComet) -> None:
    comet.stream_disposition = None
    comet.stream_size = 1000
    async with real_client(comet) as client, client.download_client("macos-arm64") as download:
        assert download.filename == "CometBackup-macos-arm64.pkg"
        assert b"".join([c async for c in download.iter_chunks()]) == b"\x5a" * 1000


async def test_download_error_reply_is_classified(comet: TinyComet) -> None:
    async with real_client(comet, password="wrong-password") as client:
        with pytest.raises(CometAuthFailed) as caught:
            async with client.download_client("linuxgeneric"):
                pytest.fail("must not get here")
    assert caught.value.api_status == 403


async def test_replaced_client_lets_running_calls_finish(comet: TinyComet) -> None:
    comet.delays["list-users"] = 0.2
    registry = CometClientRegistry(close_grace_s=5)
    old = await registry.get(make_config(base_url=comet.base_url))  # type: ignore[attr-defined]
    running = asyncio.create_task(old.list_users())
    await asyncio.sleep(0.05)
    new = await registry.get(make_config(base_url=comet.base_url, max_connections=2))  # type: ignore[attr-defined]
    assert await running == ["alice"]
    assert await new.list_users() == ["alice"]
    await registry.aclose()
    assert old.closed


# -- TLS ----------------------------------------------------------------------------------------


async def test_tls_verification(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    leaf = ca.issue("localhost", server=True)
    ca_path, cert_path, key_path = ca.cert_file, leaf.cert_file, leaf.key_file
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_path, key_path)
    comet = TinyComet()
    base = await comet.start(server_ctx)
    try:
        async with CometClient(make_config(base_url=base, max_retries=0)) as default:
            with pytest.raises(CometTLSError) as caught:
                await default.meta_version()
        assert not caught.value.reached_server
        assert not caught.value.retryable
        async with CometClient(make_config(base_url=base, ca_file=str(ca_path))) as trusted:
            assert (await trusted.meta_version()).version == "24.12.2"
        async with CometClient(make_config(base_url=base, verify_tls=False)) as unverified:
            assert (await unverified.meta_version()).version == "24.12.2"
    finally:
        await comet.stop()
    assert comet.counts["meta/version"] == 2
