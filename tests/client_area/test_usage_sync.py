"""SyncUsage and the background sync: one list-users-full per server, usage stored on the account
(and listed for billing), over-quota flags, missing users, new vaults limited, drift reported,
and a Comet outage survived."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from comet_provisioning.config import Settings, replace
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2, servers_pb2

from tests.accounts.conftest import register_sim, started
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD

from .conftest import GIB, World, active, get, profile, sync


async def test_one_list_users_full_per_server_fills_every_accounts_usage(world: World) -> None:
    sim = world.sim
    a = await active(world, customer=accounts_pb2.Customer(email="a@example.com"))
    b = await active(world, customer=accounts_pb2.Customer(email="b@example.com"))
    c = await active(world, customer=accounts_pb2.Customer(email="c@example.com"))
    # a: two devices, two items (3 GiB + 1 GiB), 5 GiB measured in its vault, a failed last backup.
    vault_a = next(iter(profile(world, a.username)["Destinations"]))
    sim.state.set_vault_usage(a.username, vault_a, 5 * GIB)
    d1 = sim.state.seed_device(a.username, friendly_name="laptop")
    sim.state.seed_device(a.username, friendly_name="desktop")
    now = int(time.time())
    sim.state.seed_protected_item(
        a.username, owner_device=d1, total_size=3 * GIB, last_job={"StartTime": now - 7200, "Status": 5000}
    )
    sim.state.seed_protected_item(
        a.username, owner_device=d1, total_size=1 * GIB, last_job={"StartTime": now - 600, "Status": 7002}
    )
    # b: over every quota (3 devices of 2, 150 GiB of 100 protected, 300 GiB of 250 in the vault).
    vault_b = next(iter(profile(world, b.username)["Destinations"]))
    sim.state.set_vault_usage(b.username, vault_b, 300 * GIB)
    for _ in range(3):
        sim.state.seed_device(b.username)
    sim.state.seed_protected_item(b.username, total_size=150 * GIB)
    # a Comet user nobody tracks: read in the same call, stored nowhere.
    sim.state.seed_user("stranger")
    sim.counters.reset()

    result = await sync(world)

    assert sim.counters.calls["list-users-full"] == 1
    assert sim.counters.calls["get-user-profile"] == 0
    assert sim.counters.calls["get-user-profile-and-hash"] == 0
    [server] = result.results
    assert server.ok
    assert server.server_id == world.server_id
    assert (server.accounts_updated, server.accounts_missing, server.accounts_repaired) == (3, 0, 0)
    assert server.sync_time.seconds >= now - 5

    listed = await world.stubs.accounts.ListAccounts(
        accounts_pb2.ListAccountsRequest(server_id=world.server_id), timeout=10
    )
    usage = {account.id: account.usage for account in listed.accounts}
    ua, ub, uc = usage[a.id], usage[b.id], usage[c.id]
    assert ua.vault_bytes == 5 * GIB
    assert [(v.vault_id, v.used_bytes, v.limit_bytes, v.over_quota) for v in ua.vaults] == [
        (vault_a, 5 * GIB, 250 * GIB, False)
    ]
    assert ua.protected_items_bytes == 4 * GIB
    assert ua.device_count == 2
    assert ua.last_backup_status == "ERROR"
    assert ua.last_backup_time.seconds == now - 600
    assert not (ua.devices_over_quota)
    assert not (ua.protected_items_over_quota)
    assert not (ua.vaults_over_quota)
    assert not ua.drift_detected
    assert ua.sync_time.seconds == server.sync_time.seconds
    assert (ub.devices_over_quota, ub.protected_items_over_quota, ub.vaults_over_quota) == (True, True, True)
    assert ub.vaults[0].over_quota
    assert uc.device_count == 0
    assert uc.vault_bytes == 0
    assert uc.last_backup_status == ""
    assert not uc.HasField("last_backup_time")
    # Usage is part of the account resource: the basic view shows it too, without a Comet call.
    sim.counters.reset()
    assert (await get(world, a.id)).usage == ua
    assert sum(sim.counters.calls.values()) == 0


async def test_every_server_is_read_once_and_missing_users_are_reported(world: World, tmp_path: Path) -> None:
    second = CometSimulator(admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD, seed=99)
    await second.start(host="127.0.0.1", port=0)
    try:
        other_server = await register_sim(world.stubs, second, group_id=world.group_id, name="second")
        accounts = [await active(world, customer=accounts_pb2.Customer(reference=f"r{i}")) for i in range(4)]
        on_second = [a for a in accounts if a.account.server_id == other_server]
        on_first = [a for a in accounts if a.account.server_id == world.server_id]
        assert on_first
        assert on_second
        gone = on_first[0]
        del world.sim.state.users[gone.username]  # deleted on Comet behind the service's back
        world.sim.counters.reset()
        second.counters.reset()

        result = await sync(world)

        assert world.sim.counters.calls["list-users-full"] == 1
        assert second.counters.calls["list-users-full"] == 1
        by_server = {r.server_id: r for r in result.results}
        assert by_server[world.server_id].accounts_updated == len(on_first) - 1
        assert by_server[world.server_id].accounts_missing == 1
        assert by_server[other_server].accounts_updated == len(on_second)
        assert not (await get(world, gone.id)).HasField("usage")

        # One server only: the other is not called.
        world.sim.counters.reset()
        second.counters.reset()
        only = await sync(world, other_server)
        assert [r.server_id for r in only.results] == [other_server]
        assert world.sim.counters.calls["list-users-full"] == 0
        assert second.counters.calls["list-users-full"] == 1
    finally:
        await second.stop()


async def test_a_vault_added_on_comet_gets_the_products_vault_quota(world: World) -> None:
    a = await active(world)
    added = world.sim.state.seed_vault(a.username, size=2 * GIB)  # no limit
    assert profile(world, a.username)["Destinations"][added]["StorageLimitEnabled"] is False

    [result] = (await sync(world)).results

    vault = profile(world, a.username)["Destinations"][added]
    assert (vault["StorageLimitEnabled"], vault["StorageLimitBytes"]) == (True, 250 * GIB)
    assert result.accounts_repaired == 1
    account = await get(world, a.id)
    assert not account.usage.drift_detected
    assert {v.vault_id: v.limit_bytes for v in account.usage.vaults}[added] == 250 * GIB
    events = await world.stubs.accounts.ListAccountEvents(
        accounts_pb2.ListAccountEventsRequest(account_id=a.id), timeout=10
    )
    newest = events.events[0]
    assert (newest.operation, newest.step, newest.comet_endpoint) == (
        "usage_sync",
        "limit_new_vaults",
        "set-user-profile-hash",
    )
    assert added in newest.error  # the note names the vault
    # A second sync has nothing to repair.
    assert (await sync(world)).results[0].accounts_repaired == 0


async def test_drift_is_reported_and_left_alone_without_repair(world: World) -> None:
    a = await active(world)
    record = world.sim.state.users[a.username]
    record.profile["MaximumDevices"] = 9
    record.profile["PolicyID"] = ""
    record.touch()
    world.sim.counters.reset()

    [result] = (await sync(world)).results

    assert result.accounts_repaired == 0
    assert (await get(world, a.id)).usage.drift_detected
    assert profile(world, a.username)["MaximumDevices"] == 9  # reported, not repaired
    assert world.sim.counters.calls["set-user-profile-hash"] == 0


async def test_a_comet_outage_fails_the_sync_and_the_next_call_catches_up(world: World) -> None:
    a = await active(world)
    world.sim.faults.add("list-users-full", "http502")
    [failed] = (await sync(world)).results
    assert not failed.ok
    assert failed.error
    assert not (await get(world, a.id)).HasField("usage")
    world.sim.faults.clear()
    [ok] = (await sync(world)).results
    assert ok.ok
    assert ok.accounts_updated == 1
    assert (await get(world, a.id)).usage.HasField("sync_time")


async def test_the_background_sync_survives_an_outage_and_catches_up(
    comet_sim: CometSimulator, account_settings: Settings
) -> None:
    settings = replace(account_settings, usage_sync_interval_s=0.5)
    comet_sim.faults.add("list-users-full", "http502")
    async with started(settings) as stubs:
        group = await stubs.servers.CreateServerGroup(
            servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="g"))
        )
        server_id = await register_sim(stubs, comet_sim, group_id=group.server_group.id)
        world = World(stubs, comet_sim, group.server_group.id, server_id, "")
        world.product_id = await world.product("P", storage_provider_id=next(iter(comet_sim.state.providers)))
        a = await active(world)
        # The loop keeps trying while Comet answers 502 ...
        deadline = time.monotonic() + 20
        while comet_sim.counters.calls["list-users-full"] < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert comet_sim.counters.calls["list-users-full"] >= 2
        assert not (await get(world, a.id)).HasField("usage")
        # ... and once Comet is back, the usage arrives without anyone asking.
        comet_sim.faults.clear()
        while not (await get(world, a.id)).HasField("usage") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert (await get(world, a.id)).usage.HasField("sync_time")


async def test_a_suspension_changed_on_comet_is_reported_and_left_alone_without_repair(world: World) -> None:
    a = await active(world)
    record = world.sim.state.users[a.username]
    record.profile["IsSuspended"] = True  # suspended by hand on Comet; the billing side says ACTIVE
    record.touch()
    world.sim.counters.reset()

    [result] = (await sync(world)).results

    assert result.accounts_repaired == 0
    account = await get(world, a.id)
    assert account.usage.drift_detected
    assert account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert profile(world, a.username)["IsSuspended"] is True
    assert world.sim.counters.calls["set-user-profile-hash"] == 0
