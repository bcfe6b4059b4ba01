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

from .fake_comet import FakeComet, carm, fake_client

PROFILE: dict[str, Any] = {"Username": "alice", "IsSuspended": False, "MaximumDevices": 0, "Future": [1]}


def read_reply(profile: dict[str, Any], profile_hash: str) -> dict[str, Any]:
    return {**carm(), "ProfileHash": profile_hash, "Profile": profile}


def suspend(profile: dict[str, Any]) -> bool:
    if profile["IsSuspended"]:
        return False
    profile["IsSuspended"] = True
    return True


def written(fake: FakeComet) -> list[tuple[dict[str, Any], str]]:
    return [(json.loads(f["ProfileData"]), f["RequireHash"]) for f in fake.sent("set-user-profile-hash")]


async def test_an_update_from_a_held_profile_reads_nothing() -> None:
    fake = FakeComet()
    server_copy = {**PROFILE, "IsSuspended": True, "LastSuspended": 1700000000}
    fake.reply("set-user-profile-hash", read_reply(server_copy, "h2"))
    async with fake_client(fake) as client:
        outcome = await client.update_user_profile(
            "alice", suspend, current=ProfileAndHash(dict(PROFILE), "h1")
        )
    assert fake.calls("get-user-profile-and-hash") == 0
    assert written(fake) == [({**PROFILE, "IsSuspended": True}, "h1")]
    assert outcome.written
    assert outcome.profile == server_copy  # what Comet holds, fields it set included
    assert outcome.profile_hash == "h2"


async def test_chained_updates_use_each_reply_instead_of_a_read() -> None:
    fake = FakeComet()
    fake.reply("get-user-profile-and-hash", read_reply(PROFILE, "h1"))
    fake.reply("set-user-profile-hash", read_reply({**PROFILE, "IsSuspended": True}, "h2"))
    fake.reply(
        "set-user-profile-hash", read_reply({**PROFILE, "IsSuspended": True, "MaximumDevices": 3}, "h3")
    )
    async with fake_client(fake) as client:
        first = await client.update_user_profile("alice", suspend)
        assert first.profile_hash is not None
        second = await client.update_user_profile(
            "alice",
            lambda p: p.update(MaximumDevices=3),
            current=ProfileAndHash(first.profile, first.profile_hash),
        )
    assert fake.calls("get-user-profile-and-hash") == 1
    assert [h for _, h in written(fake)] == ["h1", "h2"]
    assert second.profile_hash == "h3"


async def test_a_held_profile_gone_stale_falls_back_to_a_read() -> None:
    fake = FakeComet()
    theirs = {**PROFILE, "MaximumDevices": 9}  # someone else's edit since our copy
    fake.reply("set-user-profile-hash", carm(409, "ERR_PROFILE_HASH_MISMATCH"))
    fake.reply("get-user-profile-and-hash", read_reply(theirs, "h5"))
    fake.reply("set-user-profile-hash", read_reply({**theirs, "IsSuspended": True}, "h6"))
    async with fake_client(fake) as client:
        outcome = await client.update_user_profile(
            "alice", suspend, current=ProfileAndHash(dict(PROFILE), "h1")
        )
    assert written(fake)[1] == ({**theirs, "IsSuspended": True}, "h5")
    assert outcome.profile["MaximumDevices"] == 9
    assert outcome.profile_hash == "h6"


async def test_no_change_from_a_held_profile_writes_nothing() -> None:
    fake = FakeComet()
    held = ProfileAndHash({**PROFILE, "IsSuspended": True}, "h1")
    async with fake_client(fake) as client:
        outcome = await client.update_user_profile("alice", suspend, current=held)
    assert (outcome.written, outcome.profile_hash) == (False, "h1")
    assert sum(len(forms) for forms in fake.forms.values()) == 0


@pytest.mark.parametrize("refusal", [carm(400, "Profil veraltet"), carm(500, "ERR_SOMETHING")])
async def test_a_refusal_in_any_wording_is_a_conflict_when_the_hash_moved(refusal: dict[str, Any]) -> None:
    fake = FakeComet()
    theirs = {**PROFILE, "MaximumDevices": 4}
    fake.reply("get-user-profile-and-hash", read_reply(PROFILE, "h1"))
    fake.reply("set-user-profile-hash", refusal)
    fake.reply("get-user-profile", PROFILE)  # a 400 about a user first checks the user exists
    fake.reply("get-user-profile-and-hash", read_reply(theirs, "h2"))  # the hash moved
    fake.reply("set-user-profile-hash", carm())
    async with fake_client(fake) as client:
        outcome = await client.update_user_profile("alice", suspend)
    assert [h for _, h in written(fake)] == ["h1", "h2"]
    assert written(fake)[1][0] == {**theirs, "IsSuspended": True}
    assert outcome.written
    assert fake.calls("get-user-profile-and-hash") == 2  # the state check's read is reused


async def test_a_refusal_with_the_hash_unchanged_stands() -> None:
    fake = FakeComet()
    fake.reply("get-user-profile-and-hash", read_reply(PROFILE, "h1"), times=2)
    fake.reply("set-user-profile-hash", carm(400, "Ungültiges Profil"))
    fake.reply("get-user-profile", PROFILE)
    async with fake_client(fake) as client:
        with pytest.raises(CometApiError) as caught:
            await client.update_user_profile("alice", suspend)
    assert type(caught.value) is CometApiError
    assert caught.value.message == "Ungültiges Profil"
    assert fake.calls("set-user-profile-hash") == 1


async def test_a_single_hash_write_refused_after_a_concurrent_edit_is_a_conflict() -> None:
    fake = FakeComet()
    fake.reply("set-user-profile-hash", carm(500, "no"))
    fake.reply("get-user-profile-and-hash", read_reply(PROFILE, "h9"))
    async with fake_client(fake) as client:
        with pytest.raises(CometHashConflict) as caught:
            await client.set_user_profile_hash("alice", PROFILE, "h1")
    assert caught.value.api_status == 500


async def test_a_write_that_may_have_landed_is_neither_resent_nor_reread() -> None:
    fake = FakeComet()
    fake.fail("set-user-profile-hash", TransportTimeout("slow", request_sent=True))
    async with fake_client(fake) as client:
        with pytest.raises(CometTimeout):
            await client.update_user_profile("alice", suspend, current=ProfileAndHash(dict(PROFILE), "h1"))
    assert fake.calls("set-user-profile-hash") == 1
    assert fake.calls("get-user-profile-and-hash") == 0


# -- request-storage-vault ----------------------------------------------------------------------


async def test_conditional_vault_request_returns_the_profile_after_it() -> None:
    fake = FakeComet()
    after = {**PROFILE, "Destinations": {"d1": {"DestinationType": 1003}}}
    fake.reply(
        "request-storage-vault", {**carm(), "DestinationID": "d1", "ProfileHash": "h2", "Profile": after}
    )
    async with fake_client(fake) as client:
        vault = await client.request_storage_vault("alice", "prov-1", profile_hash="h1")
    assert vault == RequestedVault("d1", after, "h2")
    [form] = fake.sent("request-storage-vault")
    assert form["ProfileHash"] == "h1"


async def test_vault_request_without_a_hash_sends_none() -> None:
    fake = FakeComet(version="24.12.2")
    fake.reply("request-storage-vault", {**carm(), "DestinationID": "d1"})
    async with fake_client(fake) as client:
        vault = await client.request_storage_vault("alice", "prov-1")
    assert vault == RequestedVault("d1", None, None)
    assert "ProfileHash" not in fake.sent("request-storage-vault")[0]


async def test_stale_vault_request_by_code() -> None:
    fake = FakeComet()
    fake.reply("request-storage-vault", carm(409, "ERR_PROFILE_HASH_MISMATCH"))
    async with fake_client(fake) as client:
        with pytest.raises(CometHashConflict):
            await client.request_storage_vault("alice", "prov-1", profile_hash="h1")
    assert fake.calls("request-storage-vault") == 1  # never re-sent


async def test_stale_vault_request_in_another_wording_by_state() -> None:
    fake = FakeComet()
    fake.reply("request-storage-vault", carm(400, "Le profil a changé"))
    fake.reply("get-user-profile", PROFILE)
    fake.reply("get-user-profile-and-hash", read_reply(PROFILE, "h2"))
    async with fake_client(fake) as client:
        with pytest.raises(CometHashConflict):
            await client.request_storage_vault("alice", "prov-1", profile_hash="h1")


async def test_a_vault_request_refused_for_another_reason_stands() -> None:
    fake = FakeComet()
    fake.reply("request-storage-vault", carm(400, "Unknown storage provider"))
    fake.reply("get-user-profile", PROFILE)
    fake.reply("get-user-profile-and-hash", read_reply(PROFILE, "h1"))
    async with fake_client(fake) as client:
        with pytest.raises(CometApiError) as caught:
            await client.request_storage_vault("alice", "nope", profile_hash="h1")
    assert type(caught.value) is CometApiError
