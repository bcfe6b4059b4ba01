"""Every failure category maps to its own error class, decided by status numbers, not wording.

The simulator gives the replies a Comet Server gives (wrong credentials, unknown users in several
wordings, lockouts, faults); scripted replies stand in for the rest (a proxy's page, a refused
connection, a refusal the simulator has no reason to make).
"""

from __future__ import annotations

from typing import Any

import pytest
from comet_provisioning.comet import (
    CometApiError,
    CometAuthFailed,
    CometConnectionLost,
    CometError,
    CometHashConflict,
    CometLockedOut,
    CometNotCometServer,
    CometSecondFactorRequired,
    CometTimeout,
    CometUnreachable,
    CometUserExists,
    CometUserNotFound,
    ConnectFailed,
    ErrorHints,
)

from tests.fakes.memory_comet import MemoryComet

from .conftest import CometFactory
from .support import ADMIN_PASSWORD, WRONG_PASSWORD, RecordingObserver, carm, make_config, memory_client

PROFILE = {"Username": "alice"}
GERMAN_NOT_FOUND = "Benutzer nicht gefunden"


async def test_bad_admin_credentials(comet: MemoryComet) -> None:
    async with memory_client(comet, password=WRONG_PASSWORD) as client:
        with pytest.raises(CometAuthFailed) as caught:
            await client.meta_version()
    err = caught.value
    assert type(err) is CometAuthFailed
    assert (err.http_status, err.api_status, err.message) == (200, 403, "Unauthorised")
    assert err.reached_server
    assert not err.retryable
    assert err.server_id == "srv-1"
    assert err.endpoint == "meta/version"
    assert comet.counters.auth_failures == 1


async def test_bad_credentials_on_a_target_user_call_are_confirmed_by_one_login(comet: MemoryComet) -> None:
    async with memory_client(comet, password=WRONG_PASSWORD) as client:
        with pytest.raises(CometAuthFailed) as caught:
            await client.get_user_profile("alice")
        assert caught.value.endpoint == "get-user-profile"
        # The refused login is remembered for a few seconds: no second probe feeds login protection.
        with pytest.raises(CometAuthFailed):
            await client.get_jobs_for_user("alice")
    assert comet.calls("meta/version") == 1


async def test_translated_403_is_settled_by_checking_credentials(comet: MemoryComet) -> None:
    comet.set_behaviour(language="es")
    async with memory_client(comet, password=WRONG_PASSWORD) as client:
        with pytest.raises(CometAuthFailed) as caught:
            await client.get_user_profile("alice")
    assert caught.value.endpoint == "get-user-profile"
    assert caught.value.message == "No autorizado"
    assert comet.calls("meta/version") == 1


async def test_old_server_403_for_missing_user_is_user_not_found(make_comet: CometFactory) -> None:
    # Comet 20.9-22.3 answered 403 for an unknown TargetUser, in a translated wording here.
    comet = make_comet(version="21.3.0")
    comet.set_behaviour(language="es")
    async with memory_client(comet) as client:
        with pytest.raises(CometUserNotFound) as caught:
            await client.reset_user_password("ghost", "new-pass-123")
    assert caught.value.api_status == 403
    assert caught.value.message == "Usuario no encontrado"
    assert comet.sent("reset-user-password")
    assert comet.sent("get-user-profile")


async def test_a_403_saying_unauthorised_is_a_missing_user_when_the_credentials_work(
    make_comet: CometFactory,
) -> None:
    comet = make_comet(behaviour="legacy")  # 20.9.0: an unknown user is "403 Unauthorised"
    async with memory_client(comet) as client:
        with pytest.raises(CometUserNotFound) as caught:
            await client.delete_user("ghost")
    assert type(caught.value) is CometUserNotFound
    assert caught.value.endpoint == "delete-user"
    assert (caught.value.api_status, caught.value.message) == (403, "Unauthorised")
    assert comet.counters.auth_failures == 0  # the credentials were right all along


async def test_403_permission_refusal_for_an_existing_user_stays_api_error(comet: MemoryComet) -> None:
    comet.state.seed_user("alice")
    comet.reply("revoke-device", carm(403, "Zugriff verweigert"))
    async with memory_client(comet) as client:
        with pytest.raises(CometApiError) as caught:
            await client.revoke_device("alice", "dev-1")
    assert type(caught.value) is CometApiError
    assert caught.value.message == "Zugriff verweigert"


async def test_400_on_get_user_profile_is_user_not_found_without_a_probe(comet: MemoryComet) -> None:
    comet.set_behaviour(unknown_user_message=GERMAN_NOT_FOUND)
    async with memory_client(comet) as client:
        with pytest.raises(CometUserNotFound) as caught:
            await client.get_user_profile("ghost")
    assert (caught.value.http_status, caught.value.api_status) == (200, 400)
    assert comet.calls("get-user-profile") == 1
    assert comet.calls("meta/version") == 0


@pytest.mark.parametrize(
    ("endpoint", "call"),
    [
        ("get-user-profile-and-hash", lambda c: c.get_user_profile_and_hash("ghost")),
        ("delete-user", lambda c: c.delete_user("ghost")),
        ("get-jobs-for-user", lambda c: c.get_jobs_for_user("ghost")),
        ("account/session-start-as-user", lambda c: c.start_user_session("ghost")),
    ],
)
async def test_400_about_a_user_is_settled_by_reading_the_user(
    comet: MemoryComet, endpoint: str, call: Any
) -> None:
    comet.set_behaviour(unknown_user_message=GERMAN_NOT_FOUND)
    async with memory_client(comet) as client:
        with pytest.raises(CometUserNotFound) as caught:
            await call(client)
    assert (caught.value.http_status, caught.value.api_status) == (200, 400)
    assert caught.value.endpoint == endpoint
    assert [f["TargetUser"] for f in comet.sent("get-user-profile")] == ["ghost"]
    assert comet.calls("meta/version") == 0  # a 400 is never about the credentials


async def test_400_on_delete_of_an_existing_user_is_not_user_not_found(comet: MemoryComet) -> None:
    # Whatever its wording, a refused delete of a user who exists must not read as "already gone".
    comet.state.seed_user("alice")
    comet.reply("delete-user", carm(400, "User not found"))
    async with memory_client(comet) as client:
        with pytest.raises(CometApiError) as caught:
            await client.delete_user("alice")
    assert type(caught.value) is CometApiError
    assert "alice" in comet.state.users


async def test_400_on_multi_purpose_endpoint_checks_whether_the_user_exists(comet: MemoryComet) -> None:
    # reset-user-password refuses a short password and an unknown user alike with a 400.
    comet.reply("reset-user-password", carm(400, "mot de passe trop court"))
    async with memory_client(comet) as client:
        with pytest.raises(CometUserNotFound):
            await client.reset_user_password("ghost", "short")
    assert [f["TargetUser"] for f in comet.sent("get-user-profile")] == ["ghost"]


async def test_400_for_an_existing_user_keeps_the_servers_message(comet: MemoryComet) -> None:
    comet.state.seed_user("alice", "old-pass-123")
    async with memory_client(comet) as client:
        with pytest.raises(CometApiError) as caught:
            await client.reset_user_password("alice", "short")
    err = caught.value
    assert type(err) is CometApiError
    assert (err.http_status, err.api_status) == (200, 400)
    assert err.message == "Password must be at least 8 characters"
    assert comet.state.users["alice"].password == "old-pass-123"


async def test_duplicate_add_user_by_message_code(comet: MemoryComet) -> None:
    comet.state.seed_user("alice")
    async with memory_client(comet) as client:
        with pytest.raises(CometUserExists) as caught:
            await client.add_user("alice", "user-pass-123")
    assert caught.value.message == "ERR_USER_EXISTS"
    assert comet.sent("get-user-profile") == []


async def test_add_user_refusal_without_the_code_is_api_error_and_never_probed(comet: MemoryComet) -> None:
    comet.set_behaviour(duplicate_user="message-500", language="es")
    comet.state.seed_user("alice")
    async with memory_client(comet) as client:
        with pytest.raises(CometApiError) as caught:
            await client.add_user("alice", "user-pass-123")
    err = caught.value
    assert type(err) is CometApiError
    assert err.reached_server
    assert (err.http_status, err.api_status, err.message) == (200, 500, "El usuario ya existe")
    assert comet.sent("get-user-profile") == []
    assert comet.calls("add-user") == 1


async def test_add_user_403_checks_only_the_credentials(comet: MemoryComet) -> None:
    comet.reply("add-user", carm(403, "Unauthorised"))
    async with memory_client(comet) as client:
        with pytest.raises(CometApiError) as caught:
            await client.add_user("alice", "user-pass-123")
    assert type(caught.value) is CometApiError  # a missing permission, not bad credentials
    assert comet.calls("meta/version") == 1
    assert comet.sent("get-user-profile") == []


async def test_add_user_refused_for_another_reason_is_api_error(comet: MemoryComet) -> None:
    async with memory_client(comet) as client:
        with pytest.raises(CometApiError) as caught:
            await client.add_user("alice", "short")
    assert type(caught.value) is CometApiError
    assert caught.value.api_status == 400
    assert "alice" not in comet.state.users


async def test_totp_required(make_comet: CometFactory) -> None:
    comet = make_comet(totp_required=True)
    async with memory_client(comet) as client:
        with pytest.raises(CometSecondFactorRequired) as caught:
            await client.meta_version()
    assert isinstance(caught.value, CometAuthFailed)


async def test_totp_required_on_target_user_call(make_comet: CometFactory) -> None:
    comet = make_comet(totp_required=True)
    async with memory_client(comet) as client:
        with pytest.raises(CometSecondFactorRequired):
            await client.get_user_profile("alice")


async def test_lockout_http_429(comet: MemoryComet) -> None:
    comet.faults.set_lockout(1, cooldown_s=60)
    async with memory_client(comet, password=WRONG_PASSWORD) as intruder:
        with pytest.raises(CometAuthFailed):
            await intruder.meta_version()  # one bad login locks this source out
    async with memory_client(comet) as client:
        with pytest.raises(CometLockedOut) as caught:
            await client.list_users()
    assert (caught.value.http_status, caught.value.api_status) == (429, 429)
    assert not caught.value.retryable
    assert comet.calls("list-users") == 1
    assert comet.counters.lockouts == 1


async def test_lockout_body_429_with_http_200(comet: MemoryComet) -> None:
    comet.reply("get-user-profile", carm(429, "Trop de tentatives"))
    async with memory_client(comet) as client:
        with pytest.raises(CometLockedOut):
            await client.get_user_profile("alice")


async def test_lockout_html_429(comet: MemoryComet) -> None:
    comet.reply("meta/version", status=429, body=b"<html>slow down</html>", content_type="text/html")
    async with memory_client(comet) as client:
        with pytest.raises(CometLockedOut):
            await client.meta_version()


async def test_lockout_configurable_hint(comet: MemoryComet, observer: RecordingObserver) -> None:
    hints = ErrorHints(lockout_messages=frozenset({"ERR_BLOCKED_SOURCE"}))
    async with memory_client(comet, observer=observer, hints=hints) as custom:
        comet.reply("meta/version", carm(403, "ERR_BLOCKED_SOURCE"))
        with pytest.raises(CometLockedOut):
            await custom.meta_version()
    async with memory_client(comet, observer=observer) as default:
        comet.reply("meta/version", carm(403, "ERR_BLOCKED_SOURCE"))
        with pytest.raises(CometAuthFailed):
            await default.meta_version()


async def test_stale_profile_hash(comet: MemoryComet) -> None:
    comet.state.seed_user("alice")
    async with memory_client(comet) as client:
        read = await client.get_user_profile_and_hash("alice")
        comet.faults.force_hash_conflicts(1)  # someone else writes the profile first
        with pytest.raises(CometHashConflict) as caught:
            await client.set_user_profile_hash("alice", read.profile, read.hash)
    assert caught.value.api_status == 409
    assert comet.calls("set-user-profile-hash") == 1


async def test_stale_profile_hash_by_status_alone(comet: MemoryComet) -> None:
    comet.reply("set-user-profile-hash", carm(409, "Le profil a changé"))
    async with memory_client(comet) as client:
        with pytest.raises(CometHashConflict):
            await client.set_user_profile_hash("alice", PROFILE, "old")


async def test_stale_policy_hash(comet: MemoryComet) -> None:
    comet.reply("policies/set", carm(409, "changed"))
    async with memory_client(comet) as client:
        with pytest.raises(CometHashConflict):
            await client.set_policy("p1", {}, check_hash="old")


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_proxy_html_error_page(comet: MemoryComet, observer: RecordingObserver, status: int) -> None:
    comet.reply(
        "meta/version", status=status, body=b"<html><h1>Bad Gateway</h1></html>", content_type="text/html"
    )
    async with memory_client(comet, observer=observer, max_retries=0) as client:
        with pytest.raises(CometNotCometServer) as caught:
            await client.meta_version()
    err = caught.value
    assert err.http_status == status
    assert err.api_status is None
    assert err.retryable
    assert "text/html" in err.message


async def test_some_other_web_server(comet: MemoryComet) -> None:
    comet.reply(
        "meta/version", body=b"<!doctype html><title>Welcome to nginx</title>", content_type="text/html"
    )
    async with memory_client(comet) as client:
        with pytest.raises(CometNotCometServer) as caught:
            await client.meta_version()
    assert not caught.value.retryable


async def test_non_json_text_on_404(comet: MemoryComet) -> None:
    comet.reply("meta/version", status=404, body=b"404 page not found", content_type="text/plain")
    async with memory_client(comet) as client:
        with pytest.raises(CometNotCometServer) as caught:
            await client.meta_version()
    assert caught.value.http_status == 404


async def test_json_without_version_is_not_comet(comet: MemoryComet) -> None:
    comet.reply("meta/version", {"hello": "world"})
    async with memory_client(comet) as client:
        with pytest.raises(CometNotCometServer):
            await client.meta_version()


async def test_connection_refused(comet: MemoryComet, observer: RecordingObserver) -> None:
    comet.fail("meta/version", ConnectFailed("ConnectionRefusedError: [Errno 111] Connection refused"))
    async with memory_client(comet, observer=observer, max_retries=0) as client:
        with pytest.raises(CometUnreachable) as caught:
            await client.meta_version()
    err = caught.value
    assert not err.reached_server
    assert err.retryable
    assert err.http_status is None
    assert err.api_status is None


async def test_timeout(comet: MemoryComet, observer: RecordingObserver) -> None:
    comet.faults.add("meta/version", "hang", hang_s=5.0)
    async with memory_client(comet, observer=observer, max_retries=0, request_timeout_s=0.1) as client:
        with pytest.raises(CometTimeout) as caught:
            await client.meta_version()
    assert caught.value.retryable
    assert caught.value.reached_server


async def test_server_disconnected_is_connection_lost(
    comet: MemoryComet, observer: RecordingObserver
) -> None:
    comet.faults.add("add-user", "reset", count=1)
    async with memory_client(comet, observer=observer, max_retries=0) as client:
        with pytest.raises(CometConnectionLost) as caught:
            await client.add_user("alice", "user-pass-123")
    assert caught.value.reached_server
    assert comet.counters.calls["add-user"] == 1


async def test_generic_api_error_keeps_both_numbers_and_message(comet: MemoryComet) -> None:
    comet.faults.add("policies/new", "status500", count=1)
    async with memory_client(comet) as client:
        with pytest.raises(CometApiError) as caught:
            await client.new_policy({})
    err = caught.value
    assert type(err) is CometApiError
    assert (err.http_status, err.api_status) == (200, 500)
    assert err.message == "Internal server error (simulated)"
    assert not err.retryable
    assert "Internal server error (simulated)" in str(err)
    assert "status=500" in str(err)
    assert comet.calls("policies/new") == 1


async def test_http_error_with_json_body_without_status(comet: MemoryComet) -> None:
    comet.reply("policies/new", {"oops": True}, status=500)
    async with memory_client(comet) as client:
        with pytest.raises(CometApiError) as caught:
            await client.new_policy({})
    assert caught.value.http_status == 500
    assert caught.value.retryable


async def test_bare_reply_with_status_key_of_a_user_named_status(comet: MemoryComet) -> None:
    # list-users-full is keyed by username; a user called "Status" must not look like a failure.
    comet.state.seed_user("Status")
    async with memory_client(comet) as client:
        users = await client.list_users_full()
    assert list(users) == ["Status"]
    assert users["Status"]["Username"] == "Status"


async def test_errors_never_contain_the_admin_password(
    comet: MemoryComet, observer: RecordingObserver
) -> None:
    comet.fail("meta/version", ConnectFailed("refused"))
    comet.reply("meta/version", carm(403, "Unauthorised"))
    comet.faults.add("meta/version", "http502", count=1)
    errors: list[CometError] = []
    async with memory_client(comet, observer=observer, max_retries=0) as client:
        for _ in range(3):
            try:
                await client.meta_version()
            except CometError as exc:
                errors.append(exc)
    assert [type(e) for e in errors] == [CometUnreachable, CometAuthFailed, CometNotCometServer]
    for error in errors:
        assert ADMIN_PASSWORD not in str(error)
        assert ADMIN_PASSWORD not in repr(error)


def test_config_repr_hides_password() -> None:
    config = make_config()
    assert ADMIN_PASSWORD not in repr(config)
    assert "password" not in repr(config)
