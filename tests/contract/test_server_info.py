"""Against the simulator: the client learns the release and Comet's clock, notices an upgrade from a
reply, and on a current server chains profile writes without reads."""

from __future__ import annotations

import time

import pytest
from comet_provisioning.comet import CometClient, ProfileAndHash, ServerInfo
from comet_provisioning.sim import DEFAULT_VERSION, OLD_VERSION

from tests.fakes.memory_comet import MemoryComet

from .conftest import MemoryFactory
from .support import USER_PASSWORD, sim_config

pytestmark = pytest.mark.timeout(30)


def client_with_callback(sim: MemoryComet, learned: list[ServerInfo]) -> CometClient:
    return CometClient(sim_config(sim), transport=sim.transport(), on_server_info=learned.append)


@pytest.mark.parametrize("version", [OLD_VERSION, DEFAULT_VERSION])
async def test_the_release_is_learned_and_announced(make_sim: MemoryFactory, version: str) -> None:
    sim = await make_sim(version=version)
    learned: list[ServerInfo] = []
    async with client_with_callback(sim, learned) as client:
        info = await client.ensure_server_info()
        await client.ensure_server_info()
    assert str(info.version) == version
    assert learned == [info]
    assert sim.counters.calls["meta/version"] == 1


async def test_creation_times_read_on_comets_clock(make_sim: MemoryFactory) -> None:
    sim = await make_sim()
    sim.state.clock = lambda: time.time() + 3600  # Comet's clock runs an hour ahead of ours
    learned: list[ServerInfo] = []
    async with client_with_callback(sim, learned) as client:
        info = await client.ensure_server_info()
        before_ms = client.comet_now_ms()
        await client.add_user("clocked1", USER_PASSWORD)
        after_ms = client.comet_now_ms()
        created = (await client.get_user_profile("clocked1"))["CreateTime"]
    assert abs(info.clock_offset_s - 3600) <= 1.0
    # The server's CreateTime falls within the client's view of Comet's time, to the second.
    assert before_ms // 1000 - 1 <= created <= after_ms // 1000 + 1
    assert abs(created - time.time()) > 3000  # and not within the host's


async def test_an_upgrade_is_noticed_from_a_write_reply(make_sim: MemoryFactory) -> None:
    sim = await make_sim(version=OLD_VERSION)
    sim.state.seed_user("upgrade1")
    learned: list[ServerInfo] = []
    async with client_with_callback(sim, learned) as client:
        await client.ensure_server_info()
        sim.state.set_version(DEFAULT_VERSION)  # upgraded while the client runs
        updated = await client.update_user_profile("upgrade1", lambda p: p.update(MaximumDevices=2))
        assert updated.profile_hash == sim.state.users["upgrade1"].profile_hash
        info = await client.ensure_server_info()
    assert str(info.version) == DEFAULT_VERSION
    assert [str(i.version) for i in learned] == [OLD_VERSION, DEFAULT_VERSION]


@pytest.mark.parametrize(("version", "reads"), [(DEFAULT_VERSION, 1), (OLD_VERSION, 3)])
async def test_chained_updates_read_once_on_a_current_server(
    make_sim: MemoryFactory, version: str, reads: int
) -> None:
    sim = await make_sim(version=version)
    sim.state.seed_user("chain001")
    async with client_with_callback(sim, []) as client:
        held: ProfileAndHash | None = None
        for devices in (1, 2, 3):
            updated = await client.update_user_profile(
                "chain001", lambda p, d=devices: p.update(MaximumDevices=d), current=held
            )
            assert updated.written
            held = ProfileAndHash(updated.profile, updated.profile_hash) if updated.profile_hash else None
    assert sim.state.users["chain001"].profile["MaximumDevices"] == 3
    assert sim.counters.calls["get-user-profile-and-hash"] == reads
    assert sim.counters.calls["set-user-profile-hash"] == 3
