"""Admin authentication: passwords, TOTP, session keys, login protection."""

from __future__ import annotations

import asyncio

from comet_provisioning.sim import CometSimulator

from .support import ADMIN, ADMIN_PASSWORD, Api


async def test_good_credentials_reach_the_endpoint(api: Api) -> None:
    body = await api.body("meta/version")
    assert body["Version"] == "25.9.0"


async def test_wrong_password_is_http_200_with_403_body(api: Api) -> None:
    reply = await api.raw("meta/version", {"Username": ADMIN, "AuthType": "Password", "Password": "nope"})
    assert reply.http_status == 200
    assert reply.body == {"Status": 403, "Message": "Unauthorised"}
    assert api.sim.counters.auth_failures == 1


async def test_unknown_admin_and_missing_password_are_refused(api: Api) -> None:
    for form in (
        {"Username": "root", "AuthType": "Password", "Password": ADMIN_PASSWORD},
        {"Username": ADMIN, "AuthType": "Password"},
        {"Username": ADMIN, "AuthType": "Magic", "Password": ADMIN_PASSWORD},
    ):
        reply = await api.raw("meta/version", form)
        assert reply.body == {"Status": 403, "Message": "Unauthorised"}, form


async def test_refused_call_has_no_side_effect(api: Api) -> None:
    form = {"Username": ADMIN, "AuthType": "Password", "Password": "bad", "TargetUser": "bob123"}
    reply = await api.raw("add-user", {**form, "TargetPassword": "password-1"})
    assert reply.body["Status"] == 403
    assert "bob123" not in api.sim.state.users


async def test_totp_required_admin(api: Api) -> None:
    api.sim.state.add_admin("secure", "secure-pass", totp_required=True)
    base = {"Username": "secure", "Password": "secure-pass"}
    reply = await api.raw("meta/version", {**base, "AuthType": "Password"})
    assert reply.body == {"Status": 403, "Message": "ERR_TOTP_REQUIRED"}
    wrong_password = await api.raw("meta/version", {**base, "Password": "x", "AuthType": "Password"})
    assert wrong_password.body["Message"] == "Unauthorised"
    ok = await api.raw("meta/version", {**base, "AuthType": "PasswordTOTP", "TOTP": "123456"})
    assert ok.body["Version"]
    reused = await api.raw("meta/version", {**base, "AuthType": "PasswordTOTP", "TOTP": "123456"})
    assert reused.body == {"Status": 403, "Message": "Unauthorised"}
    malformed = await api.raw("meta/version", {**base, "AuthType": "PasswordTOTP", "TOTP": "12ab56"})
    assert malformed.body["Status"] == 403


async def test_session_key_authenticates_admin_calls(api: Api) -> None:
    started = await api.body("account/session-start")
    assert started["Status"] == 200
    assert started["SessionType"] == "admin"
    key = started["SessionKey"]
    reply = await api.raw("meta/version", {"Username": ADMIN, "AuthType": "SessionKey", "SessionKey": key})
    assert reply.body["Version"]
    bad = await api.raw(
        "meta/version", {"Username": ADMIN, "AuthType": "SessionKey", "SessionKey": "x" + key}
    )
    assert bad.body == {"Status": 403, "Message": "Unauthorised"}


async def test_user_session_is_not_an_admin_session(api: Api) -> None:
    await api.add_user("carol01")
    started = await api.body("account/session-start-as-user", TargetUser="carol01")
    assert started["SessionType"] == "user"
    assert started["SessionKey"]
    reply = await api.raw(
        "meta/version", {"Username": ADMIN, "AuthType": "SessionKey", "SessionKey": started["SessionKey"]}
    )
    assert reply.body["Status"] == 403
    missing = await api.call("account/session-start-as-user", TargetUser="nobody1")
    assert missing.body == {"Status": 400, "Message": "User not found"}


async def test_login_lockout_after_n_failures_then_cooldown(api: Api) -> None:
    api.sim.faults.set_lockout(3, cooldown_s=0.3)
    bad = {"Username": ADMIN, "AuthType": "Password", "Password": "wrong"}
    for _ in range(3):
        reply = await api.raw("meta/version", bad)
        assert reply.http_status == 200
        assert reply.body["Status"] == 403
    locked = await api.call("meta/version")  # right password, but the source is locked out
    assert locked.http_status == 429
    assert locked.body == {"Status": 429, "Message": "ERR_LOGIN_LOCKED"}
    assert api.sim.counters.lockouts == 1
    await asyncio.sleep(0.35)
    assert (await api.body("meta/version"))["Version"]


async def test_success_resets_the_failure_count(api: Api) -> None:
    api.sim.faults.set_lockout(2, cooldown_s=30)
    bad = {"Username": ADMIN, "AuthType": "Password", "Password": "wrong"}
    await api.raw("meta/version", bad)
    await api.body("meta/version")
    await api.raw("meta/version", bad)
    reply = await api.call("meta/version")
    assert reply.http_status == 200


async def test_lockout_is_per_source(sim: CometSimulator, api: Api) -> None:
    sim.faults.set_lockout(1, cooldown_s=30)
    bad = {"Username": ADMIN, "AuthType": "Password", "Password": "wrong"}
    async with api.session.post(
        sim.url("meta/version"), data=bad, headers={"X-Forwarded-For": "198.51.100.7"}
    ):
        pass
    async with api.session.post(
        sim.url("meta/version"), data=api.auth, headers={"X-Forwarded-For": "198.51.100.7"}
    ) as resp:
        assert resp.status == 429
    assert (await api.call("meta/version")).http_status == 200
