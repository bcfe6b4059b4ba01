"""Every failure category maps to its own error class, decided by status numbers, not wording."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from comet_provisioning.comet import (
    CometApiError,
    CometAuthFailed,
    CometClient,
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
    ErrorHints,
)

from .support import ADMIN_PASSWORD, RecordingObserver, make_config, refused, sent_forms, url

PROFILE = {"Username": "alice"}


def reply(mock: aioresponses, endpoint: str, payload: Any = None, **kwargs: Any) -> None:
    mock.post(url(endpoint), payload=payload, **kwargs)


async def test_bad_admin_credentials(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "meta/version", {"Status": 403, "Message": "Unauthorised"})
    with pytest.raises(CometAuthFailed) as caught:
        await client.meta_version()
    err = caught.value
    assert type(err) is CometAuthFailed
    assert (err.http_status, err.api_status, err.message) == (200, 403, "Unauthorised")
    assert err.reached_server
    assert not err.retryable
    assert err.server_id == "srv-1"
    assert err.endpoint == "meta/version"


async def test_bad_credentials_on_a_target_user_call_are_confirmed_by_one_login(
    client: CometClient, mock: aioresponses
) -> None:
    reply(mock, "get-user-profile", {"Status": 403, "Message": "Unauthorised"})
    reply(mock, "meta/version", {"Status": 403, "Message": "Unauthorised"})
    reply(mock, "get-jobs-for-user", {"Status": 403, "Message": "Unauthorised"})
    with pytest.raises(CometAuthFailed) as caught:
        await client.get_user_profile("alice")
    assert caught.value.endpoint == "get-user-profile"
    # The refused login is remembered for a few seconds: no second probe feeds login protection.
    with pytest.raises(CometAuthFailed):
        await client.get_jobs_for_user("alice")
    assert len(sent_forms(mock, "meta/version")) == 1


async def test_translated_403_is_settled_by_checking_credentials(
    client: CometClient, mock: aioresponses
) -> None:
    reply(mock, "get-user-profile", {"Status": 403, "Message": "Non autorisé"})
    reply(mock, "meta/version", {"Status": 403, "Message": "Non autorisé"})
    with pytest.raises(CometAuthFailed) as caught:
        await client.get_user_profile("alice")
    assert caught.value.endpoint == "get-user-profile"
    assert len(sent_forms(mock, "meta/version")) == 1


async def test_old_server_403_for_missing_user_is_user_not_found(
    client: CometClient, mock: aioresponses
) -> None:
    # Comet 20.9-22.3 answered 403 for an unknown TargetUser, in a translated wording here.
    reply(mock, "reset-user-password", {"Status": 403, "Message": "Utilisateur introuvable"})
    reply(mock, "meta/version", {"Version": "21.3.0"})
    reply(mock, "get-user-profile", {"Status": 403, "Message": "Utilisateur introuvable"})
    with pytest.raises(CometUserNotFound) as caught:
        await client.reset_user_password("ghost", "new-pass-123")
    assert caught.value.api_status == 403
    assert sent_forms(mock, "reset-user-password")
    assert sent_forms(mock, "get-user-profile")


async def test_a_403_saying_unauthorised_is_a_missing_user_when_the_credentials_work(
    client: CometClient, mock: aioresponses
) -> None:
    reply(mock, "delete-user", {"Status": 403, "Message": "Unauthorised"})
    reply(mock, "meta/version", {"Version": "21.3.0"})
    reply(mock, "get-user-profile", {"Status": 400, "Message": "User not found"})
    with pytest.raises(CometUserNotFound) as caught:
        await client.delete_user("ghost")
    assert type(caught.value) is CometUserNotFound
    assert caught.value.endpoint == "delete-user"


async def test_403_permission_refusal_for_an_existing_user_stays_api_error(
    client: CometClient, mock: aioresponses
) -> None:
    reply(mock, "revoke-device", {"Status": 403, "Message": "Zugriff verweigert"})
    reply(mock, "meta/version", {"Version": "23.3.0"})
    reply(mock, "get-user-profile", PROFILE)
    with pytest.raises(CometApiError) as caught:
        await client.revoke_device("alice", "dev-1")
    assert type(caught.value) is CometApiError
    assert caught.value.message == "Zugriff verweigert"


async def test_400_on_get_user_profile_is_user_not_found_without_a_probe(
    client: CometClient, mock: aioresponses
) -> None:
    reply(mock, "get-user-profile", {"Status": 400, "Message": "Benutzer nicht gefunden"})
    with pytest.raises(CometUserNotFound) as caught:
        await client.get_user_profile("ghost")
    assert (caught.value.http_status, caught.value.api_status) == (200, 400)
    assert len(sent_forms(mock, "get-user-profile")) == 1
    assert sent_forms(mock, "meta/version") == []


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
    client: CometClient, mock: aioresponses, endpoint: str, call: Any
) -> None:
    reply(mock, endpoint, {"Status": 400, "Message": "Benutzer nicht gefunden"})
    reply(mock, "get-user-profile", {"Status": 400, "Message": "Benutzer nicht gefunden"})
    with pytest.raises(CometUserNotFound) as caught:
        await call(client)
    assert (caught.value.http_status, caught.value.api_status) == (200, 400)
    assert caught.value.endpoint == endpoint
    assert [f["TargetUser"] for f in sent_forms(mock, "get-user-profile")] == ["ghost"]
    assert sent_forms(mock, "meta/version") == []  # a 400 is never about the credentials


async def test_400_on_delete_of_an_existing_user_is_not_user_not_found(
    client: CometClient, mock: aioresponses
) -> None:
    # Whatever its wording, a refused delete of a user who exists must not read as "already gone".
    reply(mock, "delete-user", {"Status": 400, "Message": "User not found"})
    reply(mock, "get-user-profile", PROFILE)
    with pytest.raises(CometApiError) as caught:
        await client.delete_user("alice")
    assert type(caught.value) is CometApiError


async def test_400_on_multi_purpose_endpoint_checks_whether_the_user_exists(
    client: CometClient, mock: aioresponses
) -> None:
    reply(mock, "reset-user-password", {"Status": 400, "Message": "mot de passe trop court"})
    reply(mock, "get-user-profile", {"Status": 400, "Message": "introuvable"})
    with pytest.raises(CometUserNotFound):
        await client.reset_user_password("ghost", "short")


async def test_400_for_an_existing_user_keeps_the_servers_message(
    client: CometClient, mock: aioresponses
) -> None:
    reply(mock, "reset-user-password", {"Status": 400, "Message": "Password too short"})
    reply(mock, "get-user-profile", PROFILE)
    with pytest.raises(CometApiError) as caught:
        await client.reset_user_password("alice", "short")
    err = caught.value
    assert type(err) is CometApiError
    assert (err.http_status, err.api_status, err.message) == (200, 400, "Password too short")


async def test_duplicate_add_user_by_message_code(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "add-user", {"Status": 400, "Message": "ERR_USER_EXISTS"})
    with pytest.raises(CometUserExists):
        await client.add_user("alice", "user-pass-123")
    assert sent_forms(mock, "get-user-profile") == []


async def test_add_user_refusal_without_the_code_is_api_error_and_never_probed(
    client: CometClient, mock: aioresponses
) -> None:
    reply(mock, "add-user", {"Status": 500, "Message": "El usuario ya existe"})
    with pytest.raises(CometApiError) as caught:
        await client.add_user("alice", "user-pass-123")
    err = caught.value
    assert type(err) is CometApiError
    assert err.reached_server
    assert (err.http_status, err.api_status, err.message) == (200, 500, "El usuario ya existe")
    assert sent_forms(mock, "get-user-profile") == []
    assert len(sent_forms(mock, "add-user")) == 1


async def test_add_user_403_checks_only_the_credentials(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "add-user", {"Status": 403, "Message": "Unauthorised"})
    reply(mock, "meta/version", {"Version": "25.9.0"})
    with pytest.raises(CometApiError) as caught:
        await client.add_user("alice", "user-pass-123")
    assert type(caught.value) is CometApiError  # a missing permission, not bad credentials
    assert sent_forms(mock, "get-user-profile") == []


async def test_add_user_refused_for_another_reason_is_api_error(
    client: CometClient, mock: aioresponses
) -> None:
    reply(mock, "add-user", {"Status": 400, "Message": "Password too short"})
    with pytest.raises(CometApiError) as caught:
        await client.add_user("alice", "short")
    assert type(caught.value) is CometApiError


async def test_totp_required(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "meta/version", {"Status": 403, "Message": "ERR_TOTP_REQUIRED"})
    with pytest.raises(CometSecondFactorRequired) as caught:
        await client.meta_version()
    assert isinstance(caught.value, CometAuthFailed)


async def test_totp_required_on_target_user_call(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "get-user-profile", {"Status": 403, "Message": "ERR_TOTP_REQUIRED"})
    with pytest.raises(CometSecondFactorRequired):
        await client.get_user_profile("alice")


async def test_lockout_http_429(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "list-users", {"Status": 429, "Message": "ERR_LOGIN_LOCKED"}, status=429)
    with pytest.raises(CometLockedOut) as caught:
        await client.list_users()
    assert (caught.value.http_status, caught.value.api_status) == (429, 429)
    assert not caught.value.retryable
    assert len(sent_forms(mock, "list-users")) == 1


async def test_lockout_body_429_with_http_200(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "get-user-profile", {"Status": 429, "Message": "Trop de tentatives"})
    with pytest.raises(CometLockedOut):
        await client.get_user_profile("alice")


async def test_lockout_html_429(client: CometClient, mock: aioresponses) -> None:
    mock.post(url("meta/version"), status=429, body="<html>slow down</html>", content_type="text/html")
    with pytest.raises(CometLockedOut):
        await client.meta_version()


async def test_lockout_configurable_hint(observer: RecordingObserver, mock: aioresponses) -> None:
    hints = ErrorHints(lockout_messages=frozenset({"ERR_BLOCKED_SOURCE"}))
    async with CometClient(make_config(), observer=observer, hints=hints) as custom:
        reply(mock, "meta/version", {"Status": 403, "Message": "ERR_BLOCKED_SOURCE"})
        with pytest.raises(CometLockedOut):
            await custom.meta_version()
    async with CometClient(make_config(), observer=observer) as default:
        reply(mock, "meta/version", {"Status": 403, "Message": "ERR_BLOCKED_SOURCE"})
        with pytest.raises(CometAuthFailed):
            await default.meta_version()


async def test_stale_profile_hash(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "set-user-profile-hash", {"Status": 409, "Message": "ERR_PROFILE_HASH_MISMATCH"})
    with pytest.raises(CometHashConflict) as caught:
        await client.set_user_profile_hash("alice", PROFILE, "old")
    assert caught.value.api_status == 409
    assert len(sent_forms(mock, "set-user-profile-hash")) == 1


async def test_stale_profile_hash_by_status_alone(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "set-user-profile-hash", {"Status": 409, "Message": "Le profil a changé"})
    with pytest.raises(CometHashConflict):
        await client.set_user_profile_hash("alice", PROFILE, "old")


async def test_stale_policy_hash(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "policies/set", {"Status": 409, "Message": "changed"})
    with pytest.raises(CometHashConflict):
        await client.set_policy("p1", {}, check_hash="old")


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_proxy_html_error_page(mock: aioresponses, observer: RecordingObserver, status: int) -> None:
    async with CometClient(make_config(max_retries=0), observer=observer) as c:
        mock.post(
            url("meta/version"),
            status=status,
            body="<html><h1>Bad Gateway</h1></html>",
            content_type="text/html",
        )
        with pytest.raises(CometNotCometServer) as caught:
            await c.meta_version()
    err = caught.value
    assert err.http_status == status
    assert err.api_status is None
    assert err.retryable
    assert "text/html" in err.message


async def test_some_other_web_server(client: CometClient, mock: aioresponses) -> None:
    mock.post(
        url("meta/version"),
        status=200,
        body="<!doctype html><title>Welcome to nginx</title>",
        content_type="text/html",
    )
    with pytest.raises(CometNotCometServer) as caught:
        await client.meta_version()
    assert not caught.value.retryable


async def test_non_json_text_on_404(client: CometClient, mock: aioresponses) -> None:
    mock.post(url("meta/version"), status=404, body="404 page not found", content_type="text/plain")
    with pytest.raises(CometNotCometServer) as caught:
        await client.meta_version()
    assert caught.value.http_status == 404


async def test_json_without_version_is_not_comet(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "meta/version", {"hello": "world"})
    with pytest.raises(CometNotCometServer):
        await client.meta_version()


async def test_connection_refused(mock: aioresponses, observer: RecordingObserver) -> None:
    async with CometClient(make_config(max_retries=0), observer=observer) as c:
        mock.post(url("meta/version"), exception=refused())
        with pytest.raises(CometUnreachable) as caught:
            await c.meta_version()
    err = caught.value
    assert not err.reached_server
    assert err.retryable
    assert err.http_status is None
    assert err.api_status is None


async def test_timeout(mock: aioresponses, observer: RecordingObserver) -> None:
    async with CometClient(make_config(max_retries=0), observer=observer) as c:
        mock.post(url("meta/version"), exception=TimeoutError())
        with pytest.raises(CometTimeout) as caught:
            await c.meta_version()
    assert caught.value.retryable
    assert caught.value.reached_server


async def test_server_disconnected_is_connection_lost(
    mock: aioresponses, observer: RecordingObserver
) -> None:
    async with CometClient(make_config(max_retries=0), observer=observer) as c:
        mock.post(url("add-user"), exception=aiohttp.ServerDisconnectedError())
        with pytest.raises(CometConnectionLost) as caught:
            await c.add_user("alice", "user-pass-123")
    assert caught.value.reached_server


async def test_generic_api_error_keeps_both_numbers_and_message(
    client: CometClient, mock: aioresponses
) -> None:
    reply(mock, "policies/new", {"Status": 500, "Message": "ERR_INTERNAL_SOMETHING"})
    with pytest.raises(CometApiError) as caught:
        await client.new_policy({})
    err = caught.value
    assert type(err) is CometApiError
    assert (err.http_status, err.api_status, err.message) == (200, 500, "ERR_INTERNAL_SOMETHING")
    assert not err.retryable
    assert "ERR_INTERNAL_SOMETHING" in str(err)
    assert "status=500" in str(err)


async def test_http_error_with_json_body_without_status(client: CometClient, mock: aioresponses) -> None:
    reply(mock, "policies/new", {"oops": True}, status=500)
    with pytest.raises(CometApiError) as caught:
        await client.new_policy({})
    assert caught.value.http_status == 500
    assert caught.value.retryable


async def test_bare_reply_with_status_key_of_a_user_named_status(
    client: CometClient, mock: aioresponses
) -> None:
    # list-users-full is keyed by username; a user called "Status" must not look like a failure.
    reply(mock, "list-users-full", {"Status": {"Username": "Status"}})
    assert await client.list_users_full() == {"Status": {"Username": "Status"}}


async def test_errors_never_contain_the_admin_password(
    mock: aioresponses, observer: RecordingObserver
) -> None:
    async with CometClient(make_config(max_retries=0), observer=observer) as c:
        errors: list[CometError] = []
        mock.post(url("meta/version"), exception=refused())
        mock.post(url("meta/version"), payload={"Status": 403, "Message": "Unauthorised"})
        mock.post(url("meta/version"), status=502, body="<html/>", content_type="text/html")
        for _ in range(3):
            try:
                await c.meta_version()
            except CometError as exc:
                errors.append(exc)
    assert len(errors) == 3
    for exc in errors:
        assert ADMIN_PASSWORD not in str(exc)
        assert ADMIN_PASSWORD not in repr(exc)


def test_config_repr_hides_password() -> None:
    config = make_config()
    assert ADMIN_PASSWORD not in repr(config)
    assert "password" not in repr(config)
