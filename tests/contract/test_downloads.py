"""Client installers streamed from the simulator over loopback: size, chunks, content, memory, and
what leaving or cancelling a download does to the connection; a refused platform in memory."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator

import pytest
from comet_provisioning.comet import CometApiError, CometClient
from comet_provisioning.sim import PLATFORMS, CometSimulator, installer_digest

from .support import RecordingObserver, sim_client

pytestmark = pytest.mark.timeout(30)

SIZE = 1_000_003  # not a multiple of the chunk size


@pytest.fixture
async def wire_client(comet_sim: CometSimulator, observer: RecordingObserver) -> AsyncIterator[CometClient]:
    async with sim_client(comet_sim, observer) as c:
        yield c


def expected_digest(sim: CometSimulator, platform: str, size: int = SIZE) -> str:
    return installer_digest(
        platform, size, seed=sim.settings.installer_seed, chunk_size=sim.settings.installer_chunk_size
    )


@pytest.mark.parametrize("platform", ["linuxgeneric", "windows-x86_64-zip", "macos-arm64"])
async def test_download_size_chunks_and_digest(
    wire_client: CometClient, comet_sim: CometSimulator, observer: RecordingObserver, platform: str
) -> None:
    comet_sim.settings.installer_size = SIZE
    digest = hashlib.sha256()
    sizes: list[int] = []
    async with wire_client.download_client(platform, "https://comet.example") as download:
        assert download.size == SIZE
        assert download.filename == PLATFORMS[platform].filename
        assert download.content_type.startswith(PLATFORMS[platform].content_type)
        async for chunk in download.iter_chunks(32 * 1024):
            sizes.append(len(chunk))
            digest.update(chunk)
        assert download.complete
        assert download.bytes_read == SIZE

    assert sum(sizes) == SIZE
    assert max(sizes) <= 32 * 1024
    assert len(sizes) >= SIZE // (32 * 1024)
    assert digest.hexdigest() == expected_digest(comet_sim, platform)
    assert comet_sim.counters.bytes_streamed == SIZE
    assert comet_sim.counters.committed[f"branding/generate-client/{platform}"] == 1
    assert observer.outcomes() == ["ok"]


async def test_download_memory_stays_flat(wire_client: CometClient, comet_sim: CometSimulator) -> None:
    size = 16 * 1024 * 1024
    comet_sim.settings.installer_size = size
    received = biggest = 0
    tracemalloc.start()
    try:
        async with wire_client.download_client("windows-anycpu-zip") as download:
            async for chunk in download.iter_chunks():
                received += len(chunk)
                biggest = max(biggest, len(chunk))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    assert biggest <= 64 * 1024  # the default chunk
    # The simulator runs in this process too, so its chunks count; still far below the whole file.
    assert peak < size // 4


async def test_unknown_platform_is_an_api_error_and_bad_tokens_never_leave(
    client: CometClient, sim: CometSimulator
) -> None:
    with pytest.raises(CometApiError) as caught:
        async with client.download_client("amiga-68k"):
            pass
    assert caught.value.api_status == 400
    with pytest.raises(ValueError, match="platform"):
        async with client.download_client("../meta/version"):
            pass
    assert sum(sim.counters.calls.values()) == 1


async def test_leaving_a_download_early_frees_the_connection(comet_sim: CometSimulator) -> None:
    comet_sim.settings.installer_size = 8 * 1024 * 1024
    observer = RecordingObserver()
    async with sim_client(comet_sim, observer, max_connections=1) as client:
        async with client.download_client("linuxgeneric") as download:
            async for _chunk in download.iter_chunks():
                break
        # With a pool of one, this would wait forever if the abandoned stream still held the socket.
        assert (await client.meta_version(timeout_s=5)).version
    assert observer.outcomes("branding/generate-client/linuxgeneric") == ["abandoned"]
    assert comet_sim.counters.bytes_streamed < 8 * 1024 * 1024


async def test_cancelling_a_download_closes_the_upstream_response(comet_sim: CometSimulator) -> None:
    comet_sim.settings.installer_size = 32 * 1024 * 1024
    comet_sim.faults.latency_ms = 0
    started = asyncio.Event()

    async def consume(client: CometClient) -> None:
        async with client.download_client("linuxgeneric") as download:
            async for _chunk in download.iter_chunks():
                started.set()
                await asyncio.sleep(0.001)

    observer = RecordingObserver()
    async with sim_client(comet_sim, observer, max_connections=1) as client:
        task = asyncio.create_task(consume(client))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await client.list_users(timeout_s=5)) == []
    assert comet_sim.counters.bytes_streamed < 32 * 1024 * 1024
    assert observer.outcomes("branding/generate-client/linuxgeneric") == ["cancelled"]
