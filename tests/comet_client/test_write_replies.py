"""Writes that answer with the new profile and hash (Comet 25.6.8+), updates that start from them,
the conditional ``request-storage-vault``, and stale hashes told apart by state, not wording."""

from __future__ import annotations

import json
from typing import Any

import pytest
from comet_provisioning.comet import (
    CometApiError,
    CometHashConflict,
    CometTimeout,
    ProfileAndHash,
    RequestedVault,
    TransportTimeout,
)

from tests.fakes.memory_comet import MemoryComet

from .conftest import CometFactory
from .support import carm, memory_client

PROFILE: dict[str, Any] = {"Username": "alice", "IsSuspended": False, "MaximumDevices": 0, "Future": [1]}


def read_reply(profile: dict[str, Any], profile_hash: str) -> dict[str, Any]:
    return {**carm(), "ProfileHash": profile_hash, "Profile": profile}


def suspend(profile: dict[str, Any]) -> bool:
    if profile["IsSuspended"]:
        return False
    profile["IsSuspended"] = True
    return True


def written(comet: MemoryComet) -> list[tuple[dict[str, Any], str]]:
    return [(json.loads(f["ProfileData"]), f["RequireHash"]) for f in comet.sent("set-user-profile-hash")]


async def test_an_update_from_a_held_profile_reads_nothing(comet: MemoryComet) -> None:
    server_copy = {**PROFILE, "IsSuspended": True, "LastSuspended": 1700000000}
    comet.reply("set-user-profile-hash", read_reply(server_copy, "h2"))
    async with memory_client(comet) as client:
        outcome = await client.update_user_profile(
            "alice", suspend, current=ProfileAndHash(dict(PROFILE), "h1")
        )
    assert comet.calls("get-user-profile-and-hash") == 0
    assert written(comet) == [({**PROFILE, "IsSuspended": True}, "h1")]
    assert outcome.written
    assert outcome.profile == server_copy  # what Comet holds, fields it set included
    assert outcome.profile_hash == "h2"


async def test_chained_updates_use_each_reply_instead_of_a_read(comet: MemoryComet) -> None:
    comet.reply("get-user-profile-and-hash", read_reply(PROFILE, "h1"))
    comet.reply("set-user-profile-hash", read_reply({**PROFILE, "IsSuspended": True}, "h2"))
    comet.reply(
        "set-user-profile-hash", read_reply({**PROFILE, "IsSuspended": True, "MaximumDevices": 3}, "h3")
    )
    async with memory_client(comet) as client:
        first = await client.update_user_profile("alice", suspend)
        assert first.profile_hash is not None
        second = await client.update_user_profile(
            "alice",
            lambda p: p.update(MaximumDevices=3),
            current=ProfileAndHash(first.profile, first.profile_hash),
        )
    assert comet.calls("get-user-profile-and-hash") == 1
    assert [h for _, h in written(comet)] == ["h1", "h2"]
    assert second.profile_hash == "h3"


async def test_a_held_profile_gone_stale_falls_back_to_a_read(comet: MemoryComet) -> None:
    theirs = {**PROFILE, "MaximumDevices": 9}  # someone else's edit since our copy
    comet.reply("set-user-profile-hash", carm(409, "ERR_PROFILE_HASH_MISMATCH"))
    comet.reply("get-user-profile-and-hash", read_reply(theirs, "h5"))
    comet.reply("set-user-profile-hash", read_reply({**theirs, "IsSuspended": True}, "h6"))
    async with memory_client(comet) as client:
        outcome = await client.update_user_profile(
            "alice", suspend, current=ProfileAndHash(dict(PROFILE), "h1")
        )
    assert written(comet)[1] == ({**theirs, "IsSuspended": True}, "h5")
    assert outcome.profile["MaximumDevices"] == 9
    assert outcome.profile_hash == "h6"


async def test_no_change_from_a_held_profile_writes_nothing(comet: MemoryComet) -> None:
    held = ProfileAndHash({**PROFILE, "IsSuspended": True}, "h1")
    async with memory_client(comet) as client:
        outcome = await client.update_user_profile("alice", suspend, current=held)
    assert (outcome.written, outcome.profile_hash) == (False, "h1")
    assert sum(len(forms) for forms in comet.forms.values()) == 0


@pytest.mark.parametrize("refusal", [carm(400, "Profil veraltet"), carm(500, "ERR_SOMETHING")])
async def test_a_refusal_in_any_wording_is_a_conflict_when_the_hash_moved(
    refusal: dict[str, Any], comet: MemoryComet
) -> None:
    theirs = {**PROFILE, "MaximumDevices": 4}
    comet.reply("get-user-profile-and-hash", read_reply(PROFILE, "h1"))
    comet.reply("set-user-profile-hash", refusal)
    comet.reply("get-user-profile", PROFILE)  # a 400 about a user first checks the user exists
    comet.reply("get-user-profile-and-hash", read_reply(theirs, "h2"))  # the hash moved
    comet.reply("set-user-profile-hash", carm())
    async with memory_client(comet) as client:
        outcome = await client.update_user_profile("alice", suspend)
    assert [h for _, h in written(comet)] == ["h1", "h2"]
    assert written(comet)[1][0] == {**theirs, "IsSuspended": True}
    assert outcome.written
    assert comet.calls("get-user-profile-and-hash") == 2  # the state check's read is reused


async def test_a_refusal_with_the_hash_unchanged_stands(comet: MemoryComet) -> None:
    comet.reply("get-user-profile-and-hash", read_reply(PROFILE, "h1"), times=2)
    comet.reply("set-user-profile-hash", carm(400, "Ungültiges Profil"))
    comet.reply("get-user-profile", PROFILE)
    async with memory_client(comet) as client:
        with pytest.raises(CometApiError) as caught:
            await client.update_user_profile("alice", suspend)
    assert type(caught.value) is CometApiError
    assert caught.value.message == "Ungültiges Profil"
    assert comet.calls("set-user-profile-hash") == 1


async def test_a_single_hash_write_refused_after_a_concurrent_edit_is_a_conflict(comet: MemoryComet) -> None:
    comet.reply("set-user-profile-hash", carm(500, "no"))
    comet.reply("get-user-profile-and-hash", read_reply(PROFILE, "h9"))
    async with memory_client(comet) as client:
        with pytest.raises(CometHashConflict) as caught:
            await client.set_user_profile_hash("alice", PROFILE, "h1")
    assert caught.value.api_status == 500


async def test_a_write_that_may_have_landed_is_neither_resent_nor_reread(comet: MemoryComet) -> None:
    comet.fail("set-user-profile-hash", TransportTimeout("slow", request_sent=True))
    async with memory_client(comet) as client:
        with pytest.raises(CometTimeout):
            await client.update_user_profile("alice", suspend, current=ProfileAndHash(dict(PROFILE), "h1"))
    assert comet.calls("set-user-profile-hash") == 1
    assert comet.calls("get-user-profile-and-hash") == 0


# -- request-storage-vault ----------------------------------------------------------------------


async def test_conditional_vault_request_returns_the_profile_after_it(comet: MemoryComet) -> None:
    after = {**PROFILE, "Destinations": {"d1": {"DestinationType": 1003}}}
    comet.reply(
        "request-storage-vault", {**carm(), "DestinationID": "d1", "ProfileHash": "h2", "Profile": after}
    )
    async with memory_client(comet) as client:
        vault = await client.request_storage_vault("alice", "prov-1", profile_hash="h1")
    assert vault == RequestedVault("d1", after, "h2")
    [form] = comet.sent("request-storage-vault")
    assert form["ProfileHash"] == "h1"


async def test_vault_request_without_a_hash_sends_none(make_comet: CometFactory) -> None:
    comet = make_comet(version="24.12.2")
    comet.reply("request-storage-vault", {**carm(), "DestinationID": "d1"})
    async with memory_client(comet) as client:
        vault = await client.request_storage_vault("alice", "prov-1")
    assert vault == RequestedVault("d1", None, None)
    assert "ProfileHash" not in comet.sent("request-storage-vault")[0]


async def test_stale_vault_request_by_code(comet: MemoryComet) -> None:
    comet.reply("request-storage-vault", carm(409, "ERR_PROFILE_HASH_MISMATCH"))
    async with memory_client(comet) as client:
        with pytest.raises(CometHashConflict):
            await client.request_storage_vault("alice", "prov-1", profile_hash="h1")
    assert comet.calls("request-storage-vault") == 1  # never re-sent


async def test_stale_vault_request_in_another_wording_by_state(comet: MemoryComet) -> None:
    comet.reply("request-storage-vault", carm(400, "Le profil a changé"))
    comet.reply("get-user-profile", PROFILE)
    comet.reply("get-user-profile-and-hash", read_reply(PROFILE, "h2"))
    async with memory_client(comet) as client:
        with pytest.raises(CometHashConflict):
            await client.request_storage_vault("alice", "prov-1", profile_hash="h1")


async def test_a_vault_request_refused_for_another_reason_stands(comet: MemoryComet) -> None:
    comet.reply("request-storage-vault", carm(400, "Unknown storage provider"))
    comet.reply("get-user-profile", PROFILE)
    comet.reply("get-user-profile-and-hash", read_reply(PROFILE, "h1"))
    async with memory_client(comet) as client:
        with pytest.raises(CometApiError) as caught:
            await client.request_storage_vault("alice", "nope", profile_hash="h1")
    assert type(caught.value) is CometApiError
