"""GetAccount FULL, the client area: live from Comet, concurrent reads, bounded by the deadline."""

from __future__ import annotations

import time

import grpc
from comet_provisioning_client.v1 import accounts_pb2

from tests.fixtures.db import expect_error

from .conftest import GIB, World, active, get, profile

DAY = 86400


async def test_full_view_shows_devices_items_vaults_jobs_and_quotas(world: World) -> None:
    sim = world.sim
    a = await active(world)
    other = await active(world, customer=accounts_pb2.Customer(email="other@example.com"))
    now = int(time.time())
    laptop = sim.state.seed_device(a.username, friendly_name="laptop", platform="windows")
    server = sim.state.seed_device(a.username, friendly_name="server", platform="linux")
    sim.state.seed_connection(a.username, laptop, ReportedVersion="25.9.0")
    # Another user's connection claiming the same device id must not mark ours online.
    sim.state.seed_connection(other.username, server)
    item = sim.state.seed_protected_item(
        a.username,
        description="Documents",
        owner_device=laptop,
        total_size=3 * GIB,
        last_job={"StartTime": now - 3600, "EndTime": now - 3000, "Status": 7001},
    )
    vault = next(iter(profile(world, a.username)["Destinations"]))
    sim.state.set_vault_usage(a.username, vault, 7 * GIB)
    sim.state.seed_job(a.username, Classification=4001, Status=5000, StartTime=now - DAY, SourceGUID=item)
    sim.state.seed_job(a.username, Classification=4002, Status=7003, StartTime=now - 2 * DAY)
    sim.state.seed_job(a.username, Classification=4001, Status=6001, StartTime=now - 60, EndTime=0)
    sim.state.seed_job(a.username, Classification=4001, Status=5000, StartTime=now - 20 * DAY)  # too old
    sim.state.seed_job(other.username, Classification=4001, Status=5000, StartTime=now - 60)  # not ours
    sim.counters.reset()

    account = await get(world, a.id, full=True)

    assert account.HasField("live")
    live = account.live
    assert list(live.missing) == []
    devices = {d.friendly_name: d for d in live.devices}
    assert devices["laptop"].online
    assert devices["laptop"].client_version == "25.9.0"
    assert not devices["server"].online
    assert devices["laptop"].platform.startswith("windows")
    assert devices["laptop"].registration_time.seconds > 0
    [protected] = live.protected_items
    assert (protected.id, protected.description, protected.device_id, protected.size_bytes) == (
        item,
        "Documents",
        laptop,
        3 * GIB,
    )
    assert protected.last_job.status == accounts_pb2.JOB_STATUS_WARNING
    assert protected.last_job.type == accounts_pb2.JOB_TYPE_BACKUP
    [v] = live.vaults
    assert (v.vault_id, v.used_bytes, v.limit_bytes, v.over_quota) == (vault, 7 * GIB, 250 * GIB, False)
    assert live.space_used_bytes == 3 * GIB
    jobs = [(j.type, j.status, j.status_code) for j in live.recent_jobs]
    assert jobs == [  # newest first, last two weeks only, this user only
        (accounts_pb2.JOB_TYPE_BACKUP, accounts_pb2.JOB_STATUS_RUNNING, 6001),
        (accounts_pb2.JOB_TYPE_BACKUP, accounts_pb2.JOB_STATUS_SUCCESS, 5000),
        (accounts_pb2.JOB_TYPE_RESTORE, accounts_pb2.JOB_STATUS_QUOTA_EXCEEDED, 7003),
    ]
    running = live.recent_jobs[0]
    assert not running.HasField("end_time")
    assert running.start_time.seconds == now - 60
    assert live.recent_jobs[1].protected_item_id == item
    assert live.comet_quotas == account.quotas  # Comet holds what the product asks for
    assert live.comet_quotas.max_devices == 2
    assert not live.comet_suspended
    assert live.comet_create_time.seconds > 0
    # The three reads, once each: profile, live connections (filtered by user), the job search.
    assert sim.counters.calls["get-user-profile"] == 1
    assert sim.counters.calls["dispatcher/list-active"] == 1
    assert sim.counters.calls["get-jobs-for-custom-search"] == 1


async def test_old_servers_without_the_username_filter_are_filtered_here(world: World) -> None:
    a = await active(world)
    other = await active(world, customer=accounts_pb2.Customer(email="other@example.com"))
    device = world.sim.state.seed_device(a.username)
    world.sim.state.seed_connection(other.username, device)  # same device id, other user
    world.sim.state.set_version("22.3.0")  # before UserNameFilter (22.6.7): every connection comes back
    live = (await get(world, a.id, full=True)).live
    assert [d.online for d in live.devices] == [False]
    world.sim.state.seed_connection(a.username, device)
    assert [d.online for d in (await get(world, a.id, full=True)).live.devices] == [True]


async def test_a_hanging_endpoint_gives_a_partial_view_within_the_deadline(world: World) -> None:
    a = await active(world)
    world.sim.state.seed_device(a.username, friendly_name="laptop")
    world.sim.faults.add("get-jobs-for-custom-search", "hang", hang_s=30)
    started = time.monotonic()
    account = await get(world, a.id, full=True, timeout=2.0)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed  # the 2 s deadline held although one call hangs for 30 s
    assert list(account.live.missing) == ["recent_jobs"]
    assert [d.friendly_name for d in account.live.devices] == ["laptop"]
    assert account.live.HasField("comet_quotas")
    print(f"partial view in {elapsed:.2f}s with a 2 s deadline")


async def test_every_read_failing_still_answers_with_the_stored_account(world: World) -> None:
    a = await active(world)
    world.sim.faults.add("*", "http500")
    account = await get(world, a.id, full=True, timeout=5)
    assert sorted(account.live.missing) == ["devices_online", "profile", "recent_jobs"]
    assert account.username == a.username
    assert account.quotas.max_devices == 2


async def test_suspended_shows_live_pending_and_terminated_have_no_comet_user(world: World) -> None:
    a = await active(world)
    await world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=a.id), timeout=10)
    assert (await get(world, a.id, full=True)).live.comet_suspended
    await world.stubs.accounts.TerminateAccount(accounts_pb2.TerminateAccountRequest(id=a.id), timeout=10)
    world.sim.counters.reset()
    terminated = await get(world, a.id, full=True)
    assert not terminated.HasField("live")
    assert sum(world.sim.counters.calls.values()) == 0
    manual = await world.product("Manual", setup_mode=2, storage_provider_id="")  # SETUP_MODE_MANUAL
    pending = (await world.create(product_id=manual)).account
    assert pending.status == accounts_pb2.ACCOUNT_STATUS_PENDING
    assert not (await get(world, pending.id, full=True)).HasField("live")
    await expect_error(
        world.stubs.accounts.GetAccount(accounts_pb2.GetAccountRequest(id="nope", view=2)),
        grpc.StatusCode.NOT_FOUND,
    )
