"""DownloadClient: the installer streamed from Comet in chunks, file info first, never held whole;
a cancelled call cuts the upstream download. The memory bound is measured on a real service
process (a 50 MB installer must not grow its resident memory by more than a few MB)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from comet_provisioning.config import Settings
from comet_provisioning.sim import CometSimulator
from comet_provisioning.sim.installer import installer_digest
from comet_provisioning_client.v1 import (
    accounts_pb2,
    accounts_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
    servers_pb2,
    servers_pb2_grpc,
)

from tests.accounts.conftest import Stubs, register_sim
from tests.fixtures.db import expect_error
from tests.fixtures.service import ServiceProcess
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD

from .conftest import World, active

MB = 1024 * 1024


def _request(
    account_id: str, platform: int = accounts_pb2.CLIENT_PLATFORM_LINUX_GENERIC
) -> accounts_pb2.DownloadClientRequest:
    return accounts_pb2.DownloadClientRequest(id=account_id, platform=platform)  # type: ignore[arg-type]


async def test_the_installer_arrives_whole_with_its_description_first(world: World) -> None:
    a = await active(world)
    size = world.sim.settings.installer_size
    digest = hashlib.sha256()
    messages = []
    async for message in world.stubs.accounts.DownloadClient(_request(a.id), timeout=30):
        messages.append(message.WhichOneof("payload"))
        if message.HasField("chunk"):
            digest.update(message.chunk)
        else:
            info = message.info
    assert messages[0] == "info"
    assert set(messages[1:]) == {"chunk"}
    assert (info.file_name, info.size_bytes) == ("CometBackup_install.run", size)
    assert info.content_type == "application/octet-stream"
    assert digest.hexdigest() == installer_digest(
        "linuxgeneric", size, seed=world.sim.settings.installer_seed
    )
    assert world.sim.counters.calls["branding/generate-client/linuxgeneric"] == 1


async def test_platform_and_status_are_checked_before_anything_is_fetched(world: World) -> None:
    a = await active(world)
    world.sim.counters.reset()
    for platform in (accounts_pb2.CLIENT_PLATFORM_UNSPECIFIED, 99):
        bad = await expect_error(
            world.stubs.accounts.DownloadClient(_request(a.id, platform)).read(),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad.fields == ["platform"]
    await world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=a.id), timeout=10)
    error = await expect_error(
        world.stubs.accounts.DownloadClient(_request(a.id)).read(),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_ACCOUNT_STATUS",
    )
    assert error.metadata["status"] == "SUSPENDED"
    await expect_error(
        world.stubs.accounts.DownloadClient(_request("nope")).read(), grpc.StatusCode.NOT_FOUND
    )
    assert not any(name.startswith("branding/") for name in world.sim.counters.calls)


async def test_a_comet_failure_before_the_first_byte_is_an_error(world: World) -> None:
    a = await active(world)
    world.sim.faults.add("branding/generate-client/*", "http502")
    await expect_error(
        world.stubs.accounts.DownloadClient(_request(a.id), timeout=15).read(), grpc.StatusCode.UNAVAILABLE
    )


# -- a real service process ------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
async def big_sim() -> object:
    sim = CometSimulator(admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD, seed=7, installer_size=50 * MB)
    await sim.start(host="127.0.0.1", port=0)
    try:
        yield sim
    finally:
        await sim.stop()


async def _process_world(
    service: ServiceProcess, sim: CometSimulator, channel: grpc.aio.Channel
) -> tuple[World, str]:
    stubs = Stubs(
        Settings(),
        servers_pb2_grpc.ServerServiceStub(channel),
        catalog_pb2_grpc.CatalogServiceStub(channel),
        accounts_pb2_grpc.AccountServiceStub(channel),
    )
    group = await stubs.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="g"))
    )
    server_id = await register_sim(stubs, sim, group_id=group.server_group.id)
    world = World(stubs, sim, group.server_group.id, server_id, "")
    world.product_id = await world.product(
        "P", policy_group_mode=catalog_pb2.POLICY_GROUP_MODE_NONE, storage_provider_id=""
    )
    return world, (await active(world)).id


async def test_a_50_mb_installer_streams_through_the_service_in_a_few_mb(
    service_process: ServiceProcess, big_sim: CometSimulator
) -> None:
    service_process.start()
    assert service_process.proc is not None
    pid = service_process.proc.pid
    async with grpc.aio.insecure_channel(service_process.address) as channel:
        world, account_id = await _process_world(service_process, big_sim, channel)
        # Warm up (imports, pools, buffers) on a small installer; then the baseline.
        big_sim.settings.installer_size = 1 * MB
        async for _ in world.stubs.accounts.DownloadClient(_request(account_id), timeout=60):
            pass
        big_sim.settings.installer_size = 50 * MB
        baseline = rss_bytes(pid)
        peak = baseline
        received = 0
        started = time.monotonic()
        async for message in world.stubs.accounts.DownloadClient(_request(account_id), timeout=120):
            if message.HasField("info"):
                assert message.info.size_bytes == 50 * MB
            received += len(message.chunk)
            peak = max(peak, rss_bytes(pid))
        elapsed = time.monotonic() - started
    growth = peak - baseline
    print(
        f"50 MB download: {elapsed:.2f}s, service RSS baseline {baseline / MB:.1f} MB, "
        f"peak {peak / MB:.1f} MB, growth {growth / MB:.2f} MB"
    )
    assert received == 50 * MB
    assert big_sim.counters.bytes_streamed >= 50 * MB
    assert growth < 16 * MB, f"RSS grew by {growth / MB:.1f} MB"


async def test_cancelling_mid_stream_cuts_the_upstream_download(
    service_process: ServiceProcess, big_sim: CometSimulator
) -> None:
    service_process.start()
    async with grpc.aio.insecure_channel(service_process.address) as channel:
        world, account_id = await _process_world(service_process, big_sim, channel)
        big_sim.counters.reset()
        call = world.stubs.accounts.DownloadClient(_request(account_id), timeout=120)
        received = 0
        async for message in call:
            received += len(message.chunk)
            if received >= 2 * MB:
                call.cancel()
                break
        # The service closes its Comet response; the simulator's writes then fail and it stops.
        await asyncio.sleep(1.0)
        streamed = big_sim.counters.bytes_streamed
        await asyncio.sleep(1.0)
    print(f"cancelled after {received / MB:.1f} MB received; the simulator streamed {streamed / MB:.1f} MB")
    assert streamed < 50 * MB
    assert big_sim.counters.bytes_streamed == streamed  # and nothing more after that


async def _read_slowly(call: AsyncIterator[accounts_pb2.DownloadClientResponse]) -> None:
    async for _ in call:
        await asyncio.sleep(0.3)


def _download_lines(service: ServiceProcess) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """(access lines of DownloadClient, lines at ERROR or above) of the service's JSON log."""
    entries = []
    for line in service.log_lines():
        with contextlib.suppress(ValueError):
            entries.append(json.loads(line))
    access = [
        e for e in entries if e.get("message") == "rpc finished" and "DownloadClient" in str(e.get("rpc"))
    ]
    errors = [e for e in entries if e.get("level") in ("error", "critical")]
    return access, errors


async def test_a_cancelled_download_gets_its_access_line_and_logs_no_error(
    service_process: ServiceProcess, big_sim: CometSimulator
) -> None:
    service_process.start()
    async with grpc.aio.insecure_channel(service_process.address) as channel:
        world, account_id = await _process_world(service_process, big_sim, channel)
        call = world.stubs.accounts.DownloadClient(_request(account_id), timeout=120)
        async for message in call:
            if message.HasField("chunk"):
                call.cancel()  # the caller gives up mid-stream
                break
        # A caller that reads slowly meets its deadline while the service waits to send.
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await _read_slowly(world.stubs.accounts.DownloadClient(_request(account_id), timeout=1.0))
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        async for _ in world.stubs.accounts.DownloadClient(_request(account_id), timeout=60):
            pass  # and one that finishes
        await asyncio.sleep(1.0)
    service_process.stop()
    access, errors = _download_lines(service_process)
    assert errors == []
    codes = [e["code"] for e in access]
    # The service learns of a passed deadline from its own timer or from the caller's cancel,
    # whichever comes first.
    assert codes[0] == "CANCELLED"
    assert codes[1] in ("DEADLINE_EXCEEDED", "CANCELLED")
    assert codes[2:] == ["OK"]
    assert all(e["caller"] == "anonymous" and e["request_id"] for e in access)
