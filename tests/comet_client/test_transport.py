"""The transport seam: the real client (retries, classification, observation) on an in-memory fake."""

from __future__ import annotations

import hashlib

import pytest
from comet_provisioning.comet import (
    AiohttpTransport,
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
    TransportTimeout,
)

from .fake_comet import FakeComet, FakeStream, carm, fake_client
from .support import RecordingObserver, make_config


def test_the_default_transport_and_the_fake_fit_the_protocol() -> None:
    assert isinstance(AiohttpTransport(make_config()), Transport)
    assert isinstance(FakeComet(), Transport)
    assert isinstance(FakeStream(200, {}, []), StreamReply)


async def test_requests_carry_the_form_and_the_budget() -> None:
    seen = []
    fake = FakeComet()
    original = fake.send

    async def spy(request, timing):  # type: ignore[no-untyped-def]
        seen.append(request)
        return await original(request, timing)

    fake.send = spy  # type: ignore[method-assign]
    fake.reply("reset-user-password", carm())
    async with fake_client(fake, request_timeout_s=7, connect_timeout_s=2) as client:
        await client.reset_user_password("alice", "new-pass-123")
    [request] = seen
    assert request.url == "http://comet.test:8060/api/v1/admin/reset-user-password"
    assert request.endpoint == "reset-user-password"
    assert 0 < request.timeout_s <= 7
    assert request.connect_timeout_s == 2
    assert fake.sent("reset-user-password")[0]["NewPassword"] == "new-pass-123"


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
    failure: Exception, error: type[Exception], reached: bool
) -> None:
    fake = FakeComet()
    fake.fail("add-user", failure, times=None)  # type: ignore[arg-type]
    observer = RecordingObserver()
    async with fake_client(fake, observer=observer, max_retries=2) as client:
        with pytest.raises(error) as caught:
            await client.add_user("alice", "user-pass-123")
    assert caught.value.reached_server is reached  # type: ignore[attr-defined]
    # A mutating call is re-sent only when it provably never left (a TLS failure is not transient).
    expected = 3 if not reached and error is not CometTLSError else 1
    assert fake.calls("add-user") == expected
    assert len(observer.outcomes("add-user")) == expected


async def test_reads_retry_through_the_seam_and_every_attempt_is_observed() -> None:
    fake = FakeComet()
    fake.fail("list-users", ConnectionBroken("reset"))
    fake.reply("list-users", body=b"<html>502</html>", content_type="text/html", status=502)
    fake.reply("list-users", ["alice"])
    observer = RecordingObserver()
    async with fake_client(fake, observer=observer) as client:
        assert await client.list_users() == ["alice"]
    assert observer.outcomes("list-users") == ["connection_lost", "not_comet_server", "ok"]
    assert [r.attempt for r in observer.records] == [1, 2, 3]


async def test_a_download_through_the_seam() -> None:
    data = bytes(range(256)) * 40
    fake = FakeComet()
    fake.stream(
        "branding/generate-client/linuxgeneric",
        data,
        headers={"Content-Disposition": "attachment; filename*=UTF-8''Comet%20Setup.run"},
    )
    observer = RecordingObserver()
    async with fake_client(fake, observer=observer) as client:
        async with client.download_client("linuxgeneric") as download:
            assert download.size == len(data)
            assert download.filename == "Comet Setup.run"
            digest = hashlib.sha256()
            async for chunk in download.iter_chunks(512):
                assert len(chunk) <= 512
                digest.update(chunk)
    assert digest.digest() == hashlib.sha256(data).digest()
    assert observer.outcomes() == ["ok"]


async def test_a_download_left_early_is_closed() -> None:
    fake = FakeComet()
    fake.stream("branding/generate-client/linuxgeneric", b"x" * 5000)
    stream = fake.streams[0]
    async with fake_client(fake) as client:
        async with client.download_client("linuxgeneric") as download:
            async for _ in download.iter_chunks(100):
                break
    assert stream.closed
    assert not stream.released


async def test_closing_the_client_closes_the_transport() -> None:
    fake = FakeComet()
    client = fake_client(fake)
    await client.aclose()
    assert fake.closed
    with pytest.raises(CometClientClosed):
        await client.list_users()
    assert fake.calls("list-users") == 0
