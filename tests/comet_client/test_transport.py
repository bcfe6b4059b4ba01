"""The transport seam: the real client (retries, classification, observation) on the in-memory fake."""

from __future__ import annotations

import hashlib

import pytest
from comet_provisioning.comet import (
    AiohttpTransport,
    CallTiming,
    CometClient,
    CometClientClosed,
    CometConnectionLost,
    CometTimeout,
    CometTLSError,
    CometUnreachable,
    ConnectFailed,
    ConnectionBroken,
    StreamReply,
    TLSFailed,
    Transport,
    TransportReply,
    TransportRequest,
    TransportTimeout,
)
from comet_provisioning.comet.classify import transport_failure
from comet_provisioning.sim import installer_digest

from tests.fakes.memory_comet import MemoryComet, ScriptedStream

from .support import RecordingObserver, make_config, memory_client


def test_the_default_transport_and_the_fake_fit_the_protocol(comet: MemoryComet) -> None:
    assert isinstance(AiohttpTransport(make_config()), Transport)
    assert isinstance(comet.transport(), Transport)
    assert isinstance(ScriptedStream(200, {}, b""), StreamReply)


async def test_requests_carry_the_form_and_the_budget(comet: MemoryComet) -> None:
    seen: list[TransportRequest] = []
    transport = comet.transport()
    original = transport.send

    async def spy(request: TransportRequest, timing: CallTiming) -> TransportReply:
        seen.append(request)
        return await original(request, timing)

    transport.send = spy  # type: ignore[method-assign]
    comet.state.seed_user("alice", "old-pass-123")
    config = make_config(request_timeout_s=7, connect_timeout_s=2)
    async with CometClient(config, transport=transport) as client:
        await client.reset_user_password("alice", "new-pass-123")
    [request] = seen
    assert request.url == "http://comet.memory:8060/api/v1/admin/reset-user-password"
    assert request.endpoint == "reset-user-password"
    assert 0 < request.timeout_s <= 7
    assert request.connect_timeout_s == 2
    assert comet.sent("reset-user-password")[0]["NewPassword"] == "new-pass-123"
    assert comet.state.users["alice"].password == "new-pass-123"


@pytest.mark.parametrize(
    ("failure", "error", "reached"),
    [
        (ConnectFailed("refused"), CometUnreachable, False),
        (TLSFailed("bad certificate"), CometTLSError, False),
        (TransportTimeout("connecting", request_sent=False), CometTimeout, False),
        (TransportTimeout("reading", request_sent=True), CometTimeout, True),
        (ConnectionBroken("reset"), CometConnectionLost, True),
    ],
)
async def test_transport_failures_become_typed_errors(
    comet: MemoryComet, failure: Exception, error: type[Exception], reached: bool
) -> None:
    comet.fail("add-user", failure, times=None)  # type: ignore[arg-type]
    observer = RecordingObserver()
    async with memory_client(comet, observer=observer, max_retries=2) as client:
        with pytest.raises(error) as caught:
            await client.add_user("alice", "user-pass-123")
    assert caught.value.reached_server is reached  # type: ignore[attr-defined]
    # A mutating call is re-sent only when it provably never left (a TLS failure is not transient).
    expected = 3 if not reached and error is not CometTLSError else 1
    assert comet.calls("add-user") == expected
    assert len(observer.outcomes("add-user")) == expected


def test_a_call_whose_connector_never_ran_may_have_reached_the_server() -> None:
    timing = CallTiming(started_at=0.0)
    assert timing.request_sent is None
    error = transport_failure("srv-1", "add-user", ConnectionBroken("gone", request_sent=timing.request_sent))
    assert error.reached_server  # so a mutating call is not re-sent
    timing.asked_for_connection = True
    assert timing.request_sent is False  # waiting for a connection: nothing left yet
    timing.connected = True
    assert timing.request_sent is True


async def test_reads_retry_through_the_seam_and_every_attempt_is_observed(comet: MemoryComet) -> None:
    comet.state.seed_user("alice")
    comet.faults.add("list-users", "reset", count=1)
    comet.faults.add("list-users", "http502", count=1)
    observer = RecordingObserver()
    async with memory_client(comet, observer=observer) as client:
        assert await client.list_users() == ["alice"]
    assert observer.outcomes("list-users") == ["connection_lost", "not_comet_server", "ok"]
    assert [r.attempt for r in observer.records] == [1, 2, 3]
    assert comet.counters.calls["list-users"] == 3


async def test_a_download_through_the_seam(comet: MemoryComet) -> None:
    comet.settings.installer_size = 200_003
    observer = RecordingObserver()
    async with memory_client(comet, observer=observer) as client:
        async with client.download_client("linuxgeneric") as download:
            assert download.size == 200_003
            digest = hashlib.sha256()
            async for chunk in download.iter_chunks(512):
                assert len(chunk) <= 512
                digest.update(chunk)
            assert download.complete
    settings = comet.settings
    assert digest.hexdigest() == installer_digest(
        "linuxgeneric", 200_003, seed=settings.installer_seed, chunk_size=settings.installer_chunk_size
    )
    assert observer.outcomes() == ["ok"]


async def test_a_scripted_download_with_an_rfc_6266_filename(comet: MemoryComet) -> None:
    data = bytes(range(256)) * 40
    comet.reply(
        "branding/generate-client/linuxgeneric",
        body=data,
        content_type="application/octet-stream",
        headers={
            "Content-Length": str(len(data)),
            "Content-Disposition": "attachment; filename*=UTF-8''Comet%20Setup.run",
        },
    )
    async with memory_client(comet) as client:
        async with client.download_client("linuxgeneric") as download:
            assert download.size == len(data)
            assert download.filename == "Comet Setup.run"
            assert b"".join([chunk async for chunk in download.iter_chunks(512)]) == data
    [stream] = comet.streams
    assert stream.released  # read to the end: the connection could be reused
    assert not stream.closed


async def test_a_scripted_download_left_early_is_closed_not_released(comet: MemoryComet) -> None:
    comet.reply("branding/generate-client/linuxgeneric", body=b"x" * 5000, content_type="application/zip")
    async with memory_client(comet) as client:
        async with client.download_client("linuxgeneric") as download:
            async for _ in download.iter_chunks(100):
                break
    [stream] = comet.streams
    assert stream.closed
    assert not stream.released


async def test_a_download_without_content_disposition_gets_a_fitting_name(comet: MemoryComet) -> None:
    comet.reply("branding/generate-client/macos-arm64", body=b"\x5a" * 1000, content_type="application/zip")
    async with memory_client(comet) as client, client.download_client("macos-arm64") as download:
        assert download.filename == "CometBackup-macos-arm64.pkg"
        assert b"".join([c async for c in download.iter_chunks()]) == b"\x5a" * 1000


async def test_a_download_left_early_is_closed(comet: MemoryComet) -> None:
    size = 8 * 1024 * 1024
    comet.settings.installer_size = size
    observer = RecordingObserver()
    async with memory_client(comet, observer=observer) as client:
        async with client.download_client("linuxgeneric") as download:
            async for _ in download.iter_chunks(100):
                break
        assert not download.complete
        assert await client.list_users() == []  # the client goes on
    assert observer.outcomes("branding/generate-client/linuxgeneric") == ["abandoned"]
    assert comet.counters.bytes_streamed < size  # the server saw the hang-up and stopped


async def test_closing_the_client_closes_the_transport(comet: MemoryComet) -> None:
    transport = comet.transport()
    client = CometClient(make_config(), transport=transport)
    await client.aclose()
    assert transport.closed
    with pytest.raises(CometClientClosed):
        await client.list_users()
    assert comet.calls("list-users") == 0
