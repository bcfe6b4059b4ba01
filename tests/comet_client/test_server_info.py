"""The client learns its server once: the release, and Comet's clock; again when a reply contradicts it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from email.utils import formatdate

import pytest
from comet_provisioning.comet import CometApiError, CometClient, CometNotCometServer, CometVersion, ServerInfo
from comet_provisioning.comet.server_info import ServerInfoCache

from tests.fakes.memory_comet import MemoryComet

from .conftest import CometFactory
from .support import carm, make_config, memory_client

PROFILE = {"Username": "alice", "IsSuspended": False}


async def test_learned_once_cached_and_announced(make_comet: CometFactory) -> None:
    comet = make_comet(version="24.12.2")
    learned: list[ServerInfo] = []
    async with memory_client(comet, learned=learned) as client:
        assert client.server_info is None
        first = await client.ensure_server_info()
        second = await client.ensure_server_info()
    assert first is second
    assert first.version == CometVersion(24, 12, 2)
    assert str(first.version) == "24.12.2"
    assert comet.calls("meta/version") == 1
    assert learned == [first]
    assert client.server_info is first


async def test_concurrent_callers_share_one_meta_version(comet: MemoryComet) -> None:
    async with memory_client(comet) as client:
        infos = await asyncio.gather(*(client.ensure_server_info() for _ in range(20)))
    assert len({id(info) for info in infos}) == 1
    assert comet.calls("meta/version") == 1


@pytest.mark.parametrize("offset_s", [0.0, 3600.0, -250.0])
async def test_comet_clock_from_current_time(comet: MemoryComet, offset_s: float) -> None:
    comet.set_behaviour(clock_offset_s=offset_s)
    async with memory_client(comet) as client:
        info = await client.ensure_server_info()
        comet_now = client.comet_now_ms() / 1000
    host_now = time.time()
    assert abs(info.clock_offset_s - offset_s) <= 1.0
    assert abs(comet_now - (host_now + offset_s)) <= 1.0


async def test_comet_clock_from_the_date_header_without_current_time(comet: MemoryComet) -> None:
    # The simulator always tells CurrentTime; a server that does not leaves only its Date header.
    comet_now = time.time() - 7200.0
    comet.reply("meta/version", {"Version": "25.9.0"}, headers={"Date": formatdate(comet_now, usegmt=True)})
    async with memory_client(comet) as client:
        info = await client.ensure_server_info()
    assert abs(info.clock_offset_s + 7200.0) <= 1.0


async def test_comet_now_needs_the_server_learned(comet: MemoryComet) -> None:
    async with memory_client(comet) as client:
        with pytest.raises(RuntimeError, match="ensure_server_info"):
            client.comet_now_ms()


async def test_meta_version_and_the_credentials_probe_also_learn(make_comet: CometFactory) -> None:
    comet = make_comet(version="21.3.0")
    comet.state.seed_user("alice")
    learned: list[ServerInfo] = []
    async with memory_client(comet, learned=learned, credentials_proof_s=0) as client:
        await client.meta_version()
        comet.reply("revoke-device", carm(403, "Zugriff verweigert"))
        with pytest.raises(CometApiError, match="Zugriff"):
            await client.revoke_device("alice", "dev-1")
        await client.ensure_server_info()
    assert comet.calls("meta/version") == 2  # the call and the probe; ensure needed neither again
    assert [str(info.version) for info in learned] == ["21.3.0", "21.3.0"]


async def test_a_version_that_is_not_a_number(comet: MemoryComet) -> None:
    comet.reply("meta/version", {"Version": "nightly"}, times=None)  # no release the simulator can be
    async with memory_client(comet) as client:
        assert (await client.meta_version()).version == "nightly"  # the connection test still passes
        with pytest.raises(CometNotCometServer, match="not a version number"):
            await client.ensure_server_info()
        assert client.server_info is None


@pytest.mark.parametrize(
    ("before", "after", "reply"),
    [
        ("20.9.0", "25.9.0", {**carm(), "ProfileHash": "h2", "Profile": PROFILE}),  # upgraded
        ("25.9.0", "24.12.2", carm()),  # downgraded
    ],
    ids=["upgrade", "downgrade"],
)
async def test_a_write_reply_that_does_not_fit_the_release_makes_it_learned_again(
    make_comet: CometFactory, before: str, after: str, reply: dict[str, object]
) -> None:
    comet = make_comet(version=before)
    learned: list[ServerInfo] = []
    async with memory_client(comet, learned=learned) as client:
        await client.ensure_server_info()
        comet.state.set_version(after)
        comet.reply("set-user-profile-hash", reply)
        await client.set_user_profile_hash("alice", PROFILE, "h1")
        assert str(client.server_info.version) == before  # type: ignore[union-attr]
        info = await client.ensure_server_info()
    assert str(info.version) == after
    assert [str(i.version) for i in learned] == [before, after]


async def test_a_write_reply_that_fits_keeps_the_release(comet: MemoryComet) -> None:
    async with memory_client(comet) as client:
        await client.ensure_server_info()
        comet.reply("set-user-profile-hash", {**carm(), "ProfileHash": "h2", "Profile": PROFILE})
        comet.reply(
            "request-storage-vault", {**carm(), "DestinationID": "d1", "ProfileHash": "h3", "Profile": {}}
        )
        await client.set_user_profile_hash("alice", PROFILE, "h1")
        await client.request_storage_vault("alice", "prov", profile_hash="h2")
        await client.ensure_server_info()
    assert comet.calls("meta/version") == 1


def test_the_cache_expires_after_its_ttl() -> None:
    now = [100.0]
    cache = ServerInfoCache("srv", ttl_s=60, clock=lambda: now[0])
    info = ServerInfo(CometVersion(25, 9, 0), 0.0, learned_at=datetime.now(UTC))
    assert cache.fresh() is None
    cache.learn(info)
    now[0] += 59.9
    assert cache.fresh() is info
    now[0] += 0.2
    assert cache.fresh() is None
    assert cache.info is info  # still shown; only no longer trusted
    cache.learn(info)
    cache.contradicted("a reply said otherwise")
    assert cache.fresh() is None


async def test_a_failing_callback_does_not_break_the_client(comet: MemoryComet) -> None:
    def broken(_info: ServerInfo) -> None:
        raise RuntimeError("storage is down")

    async with CometClient(make_config(), transport=comet.transport(), on_server_info=broken) as client:
        info = await client.ensure_server_info()
    assert str(info.version) == "25.9.0"
