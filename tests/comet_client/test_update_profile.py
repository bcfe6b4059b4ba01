"""Optimistic read-modify-write of profiles: unknown fields survive, stale hashes are retried."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from comet_provisioning.comet import CometClient, CometHashConflict, CometTimeout, TransportTimeout

from tests.fakes.memory_comet import MemoryComet

# A profile with fields this project does not model, including ones a future server might add.
PROFILE: dict[str, Any] = {
    "Username": "alice",
    "IsSuspended": False,
    "MaximumDevices": 0,
    "Destinations": {
        "d1": {
            "DestinationType": 1003,
            "StorageLimitEnabled": False,
            "Statistics": {"ClientProvidedSize": {"Size": 123456789012}},
            "FutureVaultField": {"x": [1, 2.5, None, True]},
        }
    },
    "Sources": {"s1": {"Engine": "engine1/file", "Description": "Files"}},
    "PasswordHash": "$2a$...",
    "TOTPKeyEncryptionFormat": 0,
    "SomeFieldFrom2030": {"Nested": {"Deep": ["é", "ü", 18446744073709551615]}},
}

CONFLICT = {"Status": 409, "Message": "ERR_PROFILE_HASH_MISMATCH"}
OK = {"Status": 200, "Message": "OK"}


def read_reply(profile: dict[str, Any], profile_hash: str) -> dict[str, Any]:
    return {"Status": 200, "Message": "OK", "ProfileHash": profile_hash, "Profile": profile}


def written(comet: MemoryComet) -> list[tuple[dict[str, Any], str]]:
    return [(json.loads(f["ProfileData"]), f["RequireHash"]) for f in comet.sent("set-user-profile-hash")]


def suspend(profile: dict[str, Any]) -> bool:
    if profile["IsSuspended"]:
        return False
    profile["IsSuspended"] = True
    return True


async def test_unknown_fields_survive_the_round_trip(client: CometClient, comet: MemoryComet) -> None:
    comet.reply("get-user-profile-and-hash", read_reply(PROFILE, "h1"))
    comet.reply("set-user-profile-hash", OK)

    saved = await client.update_user_profile("alice", suspend)

    [(profile, required)] = written(comet)
    assert required == "h1"
    expected = copy.deepcopy(PROFILE)
    expected["IsSuspended"] = True
    assert profile == expected
    assert saved.profile == expected
    assert saved.written
    assert saved.profile_hash is None  # a CARM reply (before 25.6.8) carries no new hash


async def test_no_change_means_no_write(client: CometClient, comet: MemoryComet) -> None:
    already = {**PROFILE, "IsSuspended": True}
    comet.reply("get-user-profile-and-hash", read_reply(already, "h1"))

    saved = await client.update_user_profile("alice", suspend)

    assert saved.profile == already
    assert not saved.written
    assert saved.profile_hash == "h1"
    assert written(comet) == []


async def test_stale_hash_is_reread_and_reapplied(client: CometClient, comet: MemoryComet) -> None:
    someone_else = {**PROFILE, "MaximumDevices": 7}  # a concurrent edit we must not erase
    comet.reply("get-user-profile-and-hash", read_reply(PROFILE, "h1"))
    comet.reply("set-user-profile-hash", CONFLICT)
    comet.reply("get-user-profile-and-hash", read_reply(someone_else, "h2"))
    comet.reply("set-user-profile-hash", OK)
    calls: list[int] = []

    def mutate(profile: dict[str, Any]) -> None:
        calls.append(1)
        profile["IsSuspended"] = True

    saved = await client.update_user_profile("alice", mutate)

    first, second = written(comet)
    assert first[1] == "h1"
    assert second[1] == "h2"
    assert second[0] == {**someone_else, "IsSuspended": True}
    assert saved.profile["MaximumDevices"] == 7
    assert len(calls) == 2


async def test_gives_up_after_max_attempts(client: CometClient, comet: MemoryComet) -> None:
    comet.reply("get-user-profile-and-hash", read_reply(PROFILE, "h"), times=None)
    comet.reply("set-user-profile-hash", CONFLICT, times=None)

    with pytest.raises(CometHashConflict) as caught:
        await client.update_user_profile("alice", suspend, max_attempts=3)

    assert len(written(comet)) == 3
    assert len(comet.sent("get-user-profile-and-hash")) == 3
    assert caught.value.api_status == 409


async def test_a_write_that_may_have_landed_is_not_resent(client: CometClient, comet: MemoryComet) -> None:
    comet.reply("get-user-profile-and-hash", read_reply(PROFILE, "h"), times=None)
    comet.fail("set-user-profile-hash", TransportTimeout("no reply in time", request_sent=True))
    comet.reply("set-user-profile-hash", OK)

    with pytest.raises(CometTimeout):
        await client.update_user_profile("alice", suspend)

    assert len(written(comet)) == 1
