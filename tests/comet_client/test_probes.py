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

from .fake_comet import FakeComet, carm, fake_client

PROFILE = {"Username": "alice"}
WORDINGS = ["Unauthorised", "User not found", "Zugriff verweigert", ""]


@pytest.mark.parametrize("message", WORDINGS)
async def test_403_for_a_missing_user_whatever_its_message(message: str) -> None:
    fake = FakeComet(version="21.3.0")
    fake.reply("get-jobs-for-user", carm(403, message))
    fake.reply("get-user-profile", carm(403, message))
    async with fake_client(fake, credentials_proof_s=0) as client:
        with pytest.raises(CometUserNotFound) as caught:
            await client.get_jobs_for_user("ghost")
    assert caught.value.endpoint == "get-jobs-for-user"
    assert caught.value.api_status == 403
    assert fake.calls("meta/version") == 1
    assert [f["TargetUser"] for f in fake.sent("get-user-profile")] == ["ghost"]


@pytest.mark.parametrize("message", WORDINGS)
async def test_403_for_an_existing_user_is_a_permission_error_not_bad_credentials(message: str) -> None:
    fake = FakeComet()
    fake.reply("reset-user-password", carm(403, message))
    fake.reply("get-user-profile", PROFILE)
    async with fake_client(fake, credentials_proof_s=0) as client:
        with pytest.raises(CometApiError) as caught:
            await client.reset_user_password("alice", "new-pass-123")
    assert type(caught.value) is CometApiError
    assert (caught.value.http_status, caught.value.api_status) == (200, 403)


async def test_a_recent_success_proves_the_credentials_without_a_login() -> None:
    fake = FakeComet()
    fake.reply("list-users", ["alice"])
    fake.reply("delete-user", carm(403, "Unauthorised"))
    fake.reply("get-user-profile", carm(400, "nope"))
    async with fake_client(fake, credentials_proof_s=3600) as client:
        await client.list_users()
        with pytest.raises(CometUserNotFound):
            await client.delete_user("ghost")
    assert fake.calls("meta/version") == 0


async def test_without_a_recent_success_the_credentials_are_checked() -> None:
    fake = FakeComet()
    fake.reply("list-users", ["alice"])
    fake.reply("delete-user", carm(403, "Unauthorised"))
    fake.reply("get-user-profile", carm(400, "nope"))
    async with fake_client(fake, credentials_proof_s=0) as client:
        await client.list_users()
        with pytest.raises(CometUserNotFound):
            await client.delete_user("ghost")
    assert fake.calls("meta/version") == 1


async def test_403_whose_credentials_probe_fails_is_auth_failed() -> None:
    fake = FakeComet(version=None)
    fake.reply("revoke-device", carm(403, "Benutzer nicht gefunden"))  # the wording says "missing user"
    fake.reply("meta/version", carm(403, "Nicht autorisiert"))
    async with fake_client(fake) as client:
        with pytest.raises(CometAuthFailed) as caught:
            await client.revoke_device("alice", "dev-1")
    assert caught.value.endpoint == "revoke-device"
    assert fake.calls("get-user-profile") == 0


async def test_403_whose_credentials_probe_meets_a_lockout_is_locked_out() -> None:
    fake = FakeComet(version=None)
    fake.reply("get-user-profile", carm(403, "Unauthorised"))
    fake.reply("meta/version", carm(429, "ERR_LOGIN_LOCKED"), status=429)
    async with fake_client(fake) as client:
        with pytest.raises(CometLockedOut):
            await client.get_user_profile("alice")


async def test_403_on_an_endpoint_without_a_user_is_a_permission_error_when_credentials_work() -> None:
    fake = FakeComet()
    fake.reply("policies/set", carm(403, "Unauthorised"))
    async with fake_client(fake, credentials_proof_s=0) as client:
        with pytest.raises(CometApiError) as caught:
            await client.set_policy("p1", {})
    assert type(caught.value) is CometApiError
    assert fake.calls("meta/version") == 1


@pytest.mark.parametrize("endpoint", ["meta/version", "account/properties", "list-users", "list-users-full"])
async def test_403_on_a_credentials_only_endpoint_is_auth_failed_at_once(endpoint: str) -> None:
    fake = FakeComet(version=None)
    fake.reply(endpoint, carm(403, "Verboten"))
    calls = {
        "meta/version": lambda c: c.meta_version(),
        "account/properties": lambda c: c.account_properties(),
        "list-users": lambda c: c.list_users(),
        "list-users-full": lambda c: c.list_users_full(),
    }
    async with fake_client(fake) as client:
        with pytest.raises(CometAuthFailed):
            await calls[endpoint](client)
    assert sum(len(forms) for forms in fake.forms.values()) == 1  # no probe


async def test_a_probe_that_cannot_tell_lets_a_read_be_retried() -> None:
    fake = FakeComet()
    fake.reply("get-jobs-for-user", carm(403, "Unauthorised"))
    fake.fail("meta/version", ConnectFailed("refused"))
    fake.reply("get-jobs-for-user", [{"GUID": "j1"}])
    async with fake_client(fake, credentials_proof_s=0) as client:
        assert await client.get_jobs_for_user("alice") == [{"GUID": "j1"}]
    assert fake.calls("get-jobs-for-user") == 2


async def test_a_refused_write_whose_probe_cannot_tell_is_not_ambiguous() -> None:
    # The 403 was a definite refusal: nothing happened, so the error says the delete never landed.
    fake = FakeComet()
    fake.reply("delete-user", carm(403, "Unauthorised"))
    fake.fail("meta/version", ConnectFailed("refused"), times=None)
    fake.reply("delete-user", carm(403, "Unauthorised"), times=None)
    async with fake_client(fake, credentials_proof_s=0, max_retries=1) as client:
        with pytest.raises(CometError) as caught:
            await client.delete_user("alice")
    assert not caught.value.reached_server
    assert caught.value.retryable
    assert fake.calls("delete-user") == 2  # so it may be, and was, sent again


async def test_a_400_is_never_about_credentials() -> None:
    fake = FakeComet(version=None)
    fake.reply("revoke-device", carm(400, "Device not found"))
    fake.reply("get-user-profile", PROFILE)
    async with fake_client(fake, credentials_proof_s=0) as client:
        with pytest.raises(CometApiError) as caught:
            await client.revoke_device("alice", "dev-9")
    assert type(caught.value) is CometApiError
    assert caught.value.message == "Device not found"
    assert fake.calls("meta/version") == 0


async def test_a_download_refused_with_403_checks_the_credentials() -> None:
    fake = FakeComet(version=None)
    fake.reply("branding/generate-client/linuxgeneric", carm(403, "Unauthorised"))
    fake.reply("meta/version", carm(403, "Unauthorised"))
    async with fake_client(fake) as client:
        with pytest.raises(CometAuthFailed) as caught:
            async with client.download_client("linuxgeneric"):
                pytest.fail("must not get here")
    assert caught.value.endpoint == "branding/generate-client/linuxgeneric"
