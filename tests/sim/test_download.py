"""Client installer downloads: exact size, streamed in chunks, deterministic, never held whole."""

from __future__ import annotations

import hashlib
import tracemalloc

import aiohttp
import pytest
from comet_provisioning.sim import PLATFORMS, CometSimulator, installer_digest

from .support import Api

SIZE = 3 * 1024 * 1024 + 123  # not a multiple of the chunk size


@pytest.fixture
def sim_kwargs() -> dict[str, object]:
    return {"installer_size": SIZE}


async def _download(api: Api, platform: str) -> tuple[aiohttp.ClientResponse, bytes, int]:
    digest = hashlib.sha256()
    chunks = 0
    async with api.session.post(api.sim.url(f"branding/generate-client/{platform}"), data=api.auth) as resp:
        async for chunk in resp.content.iter_chunked(64 * 1024):
            digest.update(chunk)
            chunks += 1
    return resp, digest.hexdigest().encode(), chunks


@pytest.mark.parametrize(
    "platform",
    [
        "windows-anycpu-zip",
        "windows-x86_64-zip",
        "windows-x86_32-zip",
        "linuxgeneric",
        "macos-x86_64",
        "macos-arm64",
    ],
)
async def test_download_platforms(api: Api, platform: str) -> None:
    resp, digest, chunks = await _download(api, platform)
    assert resp.status == 200
    assert resp.headers["Content-Length"] == str(SIZE)
    assert f'filename="{PLATFORMS[platform].filename}"' in resp.headers["Content-Disposition"]
    assert digest.decode() == installer_digest(platform, SIZE, seed=api.sim.settings.installer_seed)
    assert chunks > 1
    counters = api.sim.counters
    assert counters.bytes_streamed == SIZE
    assert counters.chunks_streamed == -(-SIZE // api.sim.settings.installer_chunk_size)
    assert counters.committed[f"branding/generate-client/{platform}"] == 1


async def test_platforms_differ_and_start_with_their_magic(api: Api) -> None:
    async with api.session.post(
        api.sim.url("branding/generate-client/windows-x86_64-zip"), data=api.auth
    ) as r:
        zip_head = (await r.read())[:4]
    async with api.session.post(api.sim.url("branding/generate-client/linuxgeneric"), data=api.auth) as r:
        run_head = (await r.read())[:10]
    assert zip_head == b"PK\x03\x04"
    assert run_head == b"#!/bin/sh\n"


async def test_unknown_platform(api: Api) -> None:
    reply = await api.call("branding/generate-client/amiga-os")
    assert reply.http_status == 200
    assert reply.body["Status"] == 400


async def test_download_needs_auth(api: Api) -> None:
    reply = await api.raw("branding/generate-client/linuxgeneric", {"Username": "admin", "Password": "bad"})
    assert reply.body == {"Status": 403, "Message": "Unauthorised"}


async def test_reset_mid_stream(api: Api) -> None:
    api.sim.faults.fail_after_commit("branding/generate-client/*", "reset")
    received: list[int] = []

    async def read_all() -> None:
        async with api.session.post(
            api.sim.url("branding/generate-client/linuxgeneric"), data=api.auth
        ) as resp:
            assert resp.headers["Content-Length"] == str(SIZE)
            async for chunk in resp.content.iter_chunked(64 * 1024):
                received.append(len(chunk))

    with pytest.raises(aiohttp.ClientPayloadError):
        await read_all()
    assert 0 < sum(received) < SIZE
    assert api.sim.counters.faults["reset_mid_stream"] == 1
    assert api.sim.counters.committed["branding/generate-client/linuxgeneric"] == 0


async def test_large_installer_is_streamed_not_buffered(sim: CometSimulator, api: Api) -> None:
    size = 24 * 1024 * 1024
    sim.settings.installer_size = size
    tracemalloc.start()
    try:
        received = 0
        async with api.session.post(
            sim.url("branding/generate-client/windows-x86_64-zip"), data=api.auth
        ) as resp:
            async for chunk in resp.content.iter_chunked(256 * 1024):
                received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    assert peak < size // 3, f"peak traced memory {peak} bytes for a {size}-byte download"
