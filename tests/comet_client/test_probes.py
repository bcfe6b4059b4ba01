"""A 403 or 400 is settled by asking Comet (do the credentials work? does the user exist?), never by
its wording; the credentials question is free right after a successful call."""

from __future__ import annotations

import pytest
from comet_provisioning.comet import (
    CometApiError,
    CometAuthFailed,
    CometError,
    CometLockedOut,
    CometUserNotFound,
    ConnectFailed,
)

from tests.fakes.memory_comet import MemoryComet

from .conftest import CometFactory
from .support import carm, memory_client

PROFILE = {"Username": "alice"}
WORDINGS = ["Unauthorised", "User not found", "Zugriff verweigert", ""]


@pytest.mark.parametrize("message", WORDINGS)
async def test_403_for_a_missing_user_whatever_its_message(message: str, make_comet: CometFactory) -> None:
    comet = make_comet(version="21.3.0")  # 20.9 to 22.3 answer 403 for an unknown user
    if message:
        comet.set_behaviour(unknown_user_message=message)
    else:  # the simulator never answers without a message; the decision must not need one
        comet.reply("get-jobs-for-user", carm(403, ""))
        comet.reply("get-user-profile", carm(403, ""))
    async with memory_client(comet, credentials_proof_s=0) as client:
        with pytest.raises(CometUserNotFound) as caught:
            await client.get_jobs_for_user("ghost")
    assert caught.value.endpoint == "get-jobs-for-user"
    assert caught.value.api_status == 403
    assert comet.calls("meta/version") == 1
    assert [f["TargetUser"] for f in comet.sent("get-user-profile")] == ["ghost"]


@pytest.mark.parametrize("message", WORDINGS)
async def test_403_for_an_existing_user_is_a_permission_error_not_bad_credentials(
    message: str, comet: MemoryComet
) -> None:
    comet.state.seed_user("alice")
    comet.reply("reset-user-password", carm(403, message))
    async with memory_client(comet, credentials_proof_s=0) as client:
        with pytest.raises(CometApiError) as caught:
            await client.reset_user_password("alice", "new-pass-123")
    assert type(caught.value) is CometApiError
    assert (caught.value.http_status, caught.value.api_status) == (200, 403)
    assert comet.counters.calls_for("get-user-profile", "alice") == 1


async def test_a_recent_success_proves_the_credentials_without_a_login(comet: MemoryComet) -> None:
    comet.reply("delete-user", carm(403, "Unauthorised"))
    async with memory_client(comet, credentials_proof_s=3600) as client:
        await client.list_users()
        with pytest.raises(CometUserNotFound):
            await client.delete_user("ghost")
    assert comet.calls("meta/version") == 0
    assert comet.counters.calls_for("get-user-profile", "ghost") == 1


async def test_without_a_recent_success_the_credentials_are_checked(comet: MemoryComet) -> None:
    comet.reply("delete-user", carm(403, "Unauthorised"))
    async with memory_client(comet, credentials_proof_s=0) as client:
        await client.list_users()
        with pytest.raises(CometUserNotFound):
            await client.delete_user("ghost")
    assert comet.calls("meta/version") == 1
    assert comet.counters.calls_for("get-user-profile", "ghost") == 1


async def test_403_whose_credentials_probe_fails_is_auth_failed(comet: MemoryComet) -> None:
    comet.reply("revoke-device", carm(403, "Benutzer nicht gefunden"))  # the wording says "missing user"
    async with memory_client(comet, password="not-the-password") as client:
        with pytest.raises(CometAuthFailed) as caught:
            await client.revoke_device("alice", "dev-1")
    assert caught.value.endpoint == "revoke-device"
    assert comet.calls("get-user-profile") == 0
    assert comet.counters.auth_failures == 1  # the probe, refused by the simulator


async def test_403_whose_credentials_probe_meets_a_lockout_is_locked_out(comet: MemoryComet) -> None:
    comet.faults.set_lockout(1, cooldown_s=60)
    async with memory_client(comet, password="not-the-password") as intruder:
        with pytest.raises(CometAuthFailed):
            await intruder.list_users()  # one bad login locks this source out
    comet.reply("get-user-profile", carm(403, "Unauthorised"))
    async with memory_client(comet) as client:
        with pytest.raises(CometLockedOut):
            await client.get_user_profile("alice")
    assert comet.counters.lockouts == 1  # the probe met the lockout


async def test_403_on_an_endpoint_without_a_user_is_a_permission_error_when_credentials_work(
    comet: MemoryComet,
) -> None:
    comet.reply("policies/set", carm(403, "Unauthorised"))
    async with memory_client(comet, credentials_proof_s=0) as client:
        with pytest.raises(CometApiError) as caught:
            await client.set_policy("p1", {})
    assert type(caught.value) is CometApiError
    assert comet.calls("meta/version") == 1


@pytest.mark.parametrize("endpoint", ["meta/version", "account/properties", "list-users", "list-users-full"])
async def test_403_on_a_credentials_only_endpoint_is_auth_failed_at_once(
    endpoint: str, comet: MemoryComet
) -> None:
    calls = {
        "meta/version": lambda c: c.meta_version(),
        "account/properties": lambda c: c.account_properties(),
        "list-users": lambda c: c.list_users(),
        "list-users-full": lambda c: c.list_users_full(),
    }
    async with memory_client(comet, password="not-the-password") as client:
        with pytest.raises(CometAuthFailed):
            await calls[endpoint](client)
    assert sum(len(forms) for forms in comet.forms.values()) == 1  # no probe
    assert comet.counters.auth_failures == 1


async def test_a_probe_that_cannot_tell_lets_a_read_be_retried(comet: MemoryComet) -> None:
    comet.reply("get-jobs-for-user", carm(403, "Unauthorised"))
    comet.fail("meta/version", ConnectFailed("refused"))
    comet.reply("get-jobs-for-user", [{"GUID": "j1"}])
    async with memory_client(comet, credentials_proof_s=0) as client:
        assert await client.get_jobs_for_user("alice") == [{"GUID": "j1"}]
    assert comet.calls("get-jobs-for-user") == 2


async def test_a_refused_write_whose_probe_cannot_tell_is_not_ambiguous(comet: MemoryComet) -> None:
    # The 403 was a definite refusal: nothing happened, so the error says the delete never landed.
    comet.reply("delete-user", carm(403, "Unauthorised"))
    comet.fail("meta/version", ConnectFailed("refused"), times=None)
    comet.reply("delete-user", carm(403, "Unauthorised"), times=None)
    async with memory_client(comet, credentials_proof_s=0, max_retries=1) as client:
        with pytest.raises(CometError) as caught:
            await client.delete_user("alice")
    assert not caught.value.reached_server
    assert caught.value.retryable
    assert comet.calls("delete-user") == 2  # so it may be, and was, sent again


async def test_a_400_is_never_about_credentials(comet: MemoryComet) -> None:
    comet.state.seed_user("alice")  # who has no device dev-9: the simulator answers 400
    async with memory_client(comet, credentials_proof_s=0) as client:
        with pytest.raises(CometApiError) as caught:
            await client.revoke_device("alice", "dev-9")
    assert type(caught.value) is CometApiError
    assert (caught.value.api_status, caught.value.message) == (400, "Device not found")
    assert comet.calls("get-user-profile") == 1  # the user exists, so the refusal stands
    assert comet.calls("meta/version") == 0


async def test_a_download_refused_with_403_checks_the_credentials(comet: MemoryComet) -> None:
    async with memory_client(comet, password="not-the-password") as client:
        with pytest.raises(CometAuthFailed) as caught:
            async with client.download_client("linuxgeneric"):
                pytest.fail("must not get here")
    assert caught.value.endpoint == "branding/generate-client/linuxgeneric"
    assert caught.value.api_status == 403
    assert comet.calls("meta/version") == 1
