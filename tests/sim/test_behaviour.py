"""Each behaviour switch on the wire: the replies the contract leaves open, one reading at a time."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from comet_provisioning.sim import DEFAULT_PROVIDER_ID, Behaviour, CometSimulator
from comet_provisioning.sim.messages import translate

from .support import Api, make_sim

GROUP_POLICY = {"Description": "d", "OrganizationID": "", "Policy": {}, "DefaultUserPolicy": False}


@pytest.fixture
def sim_kwargs(request: pytest.FixtureRequest) -> dict[str, Any]:
    switches = getattr(request, "param", {})
    return {"behaviour": Behaviour(**switches)}


def switches(**values: Any) -> Any:
    """Parametrize the module's `sim` with these behaviour switches."""
    return pytest.mark.parametrize("sim_kwargs", [values], indirect=True)


# --- duplicate add-user ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("switch", "language", "expected"),
    [
        ("code-400", "en", {"Status": 400, "Message": "ERR_USER_EXISTS"}),
        ("code-400", "es", {"Status": 400, "Message": "ERR_USER_EXISTS"}),
        ("message-400", "en", {"Status": 400, "Message": "User already exists"}),
        ("message-500", "en", {"Status": 500, "Message": "User already exists"}),
        ("message-500", "es", {"Status": 500, "Message": "El usuario ya existe"}),
        ("message-400", "es", {"Status": 400, "Message": "El usuario ya existe"}),
    ],
)
async def test_duplicate_add_user_reply(
    session: aiohttp.ClientSession, switch: str, language: str, expected: dict[str, Any]
) -> None:
    async with make_sim(behaviour=Behaviour(duplicate_user=switch, language=language)) as sim:
        api = Api(sim, session)
        await api.add_user("alice01")
        reply = await api.call("add-user", TargetUser="alice01", TargetPassword="password-456")
        assert reply.http_status == 200
        assert reply.body == expected
        assert sim.state.users["alice01"].password == "password-123"
        assert sim.counters.commits_for("add-user", "alice01") == 1


# --- unknown policy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("switch", "status", "hash_present"),
    [("ok-empty", 200, True), ("error-400", 400, True), ("error-500", 500, False)],
)
async def test_unknown_policy_reply(
    session: aiohttp.ClientSession, switch: str, status: int, hash_present: bool
) -> None:
    async with make_sim(behaviour=Behaviour(unknown_policy=switch)) as sim:
        api = Api(sim, session)
        reply = await api.body("policies/get", PolicyID="nope")
        assert reply["Status"] == status
        assert ("PolicyHash" in reply) is hash_present
        assert not reply.get("PolicyHash")
        # A known policy is answered the same way whatever the switch.
        await api.body("policies/set", PolicyID="p1", Policy=GROUP_POLICY)
        known = await api.body("policies/get", PolicyID="p1")
        assert known["Status"] == 200
        assert known["PolicyHash"] == sim.state.policies["p1"].policy_hash
        assert sim.counters.committed["policies/get"] == (2 if status == 200 else 1)


# --- unknown TargetUser ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("switch", "version", "status"),
    [
        ("by-version", "20.9.0", 403),
        ("by-version", "25.9.0", 400),
        ("400", "20.9.0", 400),
        ("403", "25.9.0", 403),
    ],
)
async def test_unknown_user_status(
    session: aiohttp.ClientSession, switch: str, version: str, status: int
) -> None:
    async with make_sim(version=version, behaviour=Behaviour(unknown_user=switch)) as sim:
        api = Api(sim, session)
        for endpoint in ("get-user-profile", "set-user-profile-hash", "delete-user", "request-storage-vault"):
            reply = await api.call(endpoint, TargetUser="ghost01", ProfileData={}, StorageProvider="x")
            assert reply.body == {"Status": status, "Message": "User not found"}, endpoint


async def test_unknown_user_message_can_read_like_bad_credentials(session: aiohttp.ClientSession) -> None:
    behaviour = Behaviour(unknown_user="403", unknown_user_message="Unauthorised")
    async with make_sim(behaviour=behaviour) as sim:
        api = Api(sim, session)
        missing = await api.call("get-user-profile", TargetUser="ghost01")
        bad_login = await api.raw("meta/version", {**api.auth, "Password": "wrong-password"})
        assert missing.body == bad_login.body == {"Status": 403, "Message": "Unauthorised"}
        # Only the admin's other calls tell them apart: the credentials still work.
        assert (await api.body("meta/version"))["Version"]
        assert sim.counters.auth_failures == 1


# --- stale hashes ------------------------------------------------------------------------------


async def _stale_profile_write(api: Api) -> Any:
    await api.add_user("alice01")
    read = await api.body("get-user-profile-and-hash", TargetUser="alice01")
    await api.body(
        "set-user-profile", TargetUser="alice01", ProfileData={**read["Profile"], "AccountName": "x"}
    )
    return await api.call(
        "set-user-profile-hash",
        TargetUser="alice01",
        ProfileData={**read["Profile"], "AccountName": "stale"},
        RequireHash=read["ProfileHash"],
    )


async def _stale_policy_write(api: Api) -> Any:
    await api.body("policies/set", PolicyID="p1", Policy=GROUP_POLICY)
    return await api.call(
        "policies/set", PolicyID="p1", Policy={**GROUP_POLICY, "Description": "stale"}, CheckPolicyHash="old"
    )


@pytest.mark.parametrize(
    ("switch", "profile_reply", "policy_reply"),
    [
        (
            "code-409",
            {"Status": 409, "Message": "ERR_PROFILE_HASH_MISMATCH"},
            {"Status": 409, "Message": "ERR_POLICY_HASH_MISMATCH"},
        ),
        (
            "message-400",
            {"Status": 400, "Message": "The profile was modified since it was read"},
            {"Status": 400, "Message": "The policy was modified since it was read"},
        ),
        (
            "message-500",
            {"Status": 500, "Message": "The profile was modified since it was read"},
            {"Status": 500, "Message": "The policy was modified since it was read"},
        ),
    ],
)
async def test_stale_hash_reply(
    session: aiohttp.ClientSession, switch: str, profile_reply: Any, policy_reply: Any
) -> None:
    async with make_sim(behaviour=Behaviour(stale_hash=switch)) as sim:
        api = Api(sim, session)
        assert (await _stale_profile_write(api)).body == profile_reply
        assert sim.state.users["alice01"].profile["AccountName"] == "x"
        assert (await _stale_policy_write(api)).body == policy_reply
        assert sim.state.policies["p1"].group_policy["Description"] == "d"
        before = sim.state.users["alice01"].profile_hash
        vault = await api.call(
            "request-storage-vault",
            TargetUser="alice01",
            StorageProvider=DEFAULT_PROVIDER_ID,
            ProfileHash="old",
        )
        assert vault.body == profile_reply
        assert sim.state.users["alice01"].profile["Destinations"] == {}
        assert sim.state.users["alice01"].profile_hash == before


# --- language ----------------------------------------------------------------------------------


async def _error_messages(api: Api) -> list[str]:
    """One Message of every kind the simulator produces, success and errors."""
    await api.add_user("alice01")
    calls: list[tuple[str, dict[str, Any]]] = [
        ("meta/version", {"Password": "wrong-password"}),
        ("add-user", {"TargetUser": "bad name", "TargetPassword": "password-1"}),
        ("add-user", {"TargetUser": "alice02", "TargetPassword": "short"}),
        ("add-user", {"TargetUser": "alice01", "TargetPassword": "password-1"}),
        ("get-user-profile", {"TargetUser": "ghost01"}),
        ("policies/get", {"PolicyID": "nope"}),
        ("policies/set", {"PolicyID": ""}),
        ("policies/set", {"PolicyID": "p", "Policy": "{"}),
        ("policies/set", {"PolicyID": "p", "Policy": "[]"}),
        ("policies/set", {"PolicyID": "p", "Policy": "{}", "CheckPolicyHash": "x"}),
        ("request-storage-vault", {"TargetUser": "alice01", "StorageProvider": "nope"}),
        ("dispatcher/refetch-profile", {"TargetID": "nope"}),
        ("revoke-device", {"TargetUser": "alice01", "TargetDevice": "nope"}),
        ("get-jobs-for-custom-search", {"Query": '{"ClauseType": "xor"}'}),
        ("branding/generate-client/amiga", {}),
        ("no/such/endpoint", {}),
        ("account/session-start", {}),
    ]
    texts = []
    for endpoint, params in calls:
        reply = await api.raw(endpoint, {**api.auth, **params})
        texts.append(reply.body["Message"])
    api.sim.state.users["alice01"].recovery_code = None
    no_code = await api.call("reset-user-password", TargetUser="alice01", NewPassword="password-999")
    texts.append(no_code.body["Message"])
    async with api.session.get(api.sim.url("meta/version")) as resp:
        texts.append((await resp.json())["Message"])
    api.sim.faults.add("list-users", "status500", count=1)
    texts.append((await api.call("list-users")).body["Message"])
    return texts


async def test_every_message_is_translated(session: aiohttp.ClientSession) -> None:
    behaviour = Behaviour(stale_hash="message-400", duplicate_user="message-500", unknown_policy="error-400")
    async with make_sim(behaviour=behaviour) as english_sim:
        english = await _error_messages(Api(english_sim, session))
    async with make_sim(behaviour=Behaviour(**{**_fields(behaviour), "language": "es"})) as spanish_sim:
        spanish = await _error_messages(Api(spanish_sim, session))
    assert len(english) == len(spanish) == len(set(english))
    for en, es in zip(english, spanish, strict=True):
        assert en != es, en
    assert "Usuario no encontrado" in spanish
    assert "No autorizado" in spanish
    assert "Correcto" in spanish  # even the success text


async def test_codes_are_not_translated(session: aiohttp.ClientSession) -> None:
    async with make_sim(behaviour=Behaviour(language="es"), totp_required=True) as sim:
        api = Api(sim, session)
        assert (await api.call("meta/version")).body == {"Status": 403, "Message": "ERR_TOTP_REQUIRED"}


def test_translate_fills_templates_and_keeps_codes() -> None:
    assert translate("Invalid username: must be at least 6 characters", "es") == (
        "Nombre de usuario no válido: debe tener al menos 6 caracteres"
    )
    assert translate("Missing required parameter 'TargetUser'", "es") == (
        "Falta el parámetro obligatorio 'TargetUser'"
    )
    assert translate("ERR_USER_EXISTS", "es") == "ERR_USER_EXISTS"
    assert translate("User not found", "en") == "User not found"
    with pytest.raises(ValueError, match="unknown language"):
        translate("OK", "fr")


def _fields(behaviour: Behaviour) -> dict[str, Any]:
    return {k: v for k, v in behaviour.to_json().items() if k != "profile"}


# --- null for empty maps and lists -------------------------------------------------------------


@switches(null_empty=True)
async def test_null_for_empty_collections(api: Api, sim: CometSimulator) -> None:
    for endpoint in (
        "list-users",
        "list-users-full",
        "dispatcher/list-active",
        "policies/list",
        "policies/list-full",
        "get-jobs-for-custom-search",
    ):
        reply = await api.call(endpoint, Query={"ClauseType": "and", "ClauseChildren": []})
        assert reply.text == "null", endpoint
    await api.add_user("alice01")
    assert (await api.call("get-jobs-for-user", TargetUser="alice01")).text == "null"
    profile = await api.body("get-user-profile", TargetUser="alice01")
    for key in ("Destinations", "Sources", "Devices", "Emails"):
        assert profile[key] is None, key
    assert profile["OverrideEmailSettings"] == {}  # only the collections old servers sent as null
    assert (await api.body("get-user-profile-and-hash", TargetUser="alice01"))["Profile"]["Devices"] is None
    assert (await api.body("list-users-full"))["alice01"]["Sources"] is None
    # The stored profile keeps its maps; a non-empty collection is sent as it is.
    assert sim.state.users["alice01"].profile["Destinations"] == {}
    sim.state.providers.clear()
    assert (await api.call("request-storage-vault-providers")).text == "null"
    sim.state.seed_provider("P1", "Comet")
    vault = await api.body("request-storage-vault", TargetUser="alice01", StorageProvider="P1")
    assert list(vault["Profile"]["Destinations"]) == [vault["DestinationID"]]
    assert vault["Profile"]["Sources"] is None
    assert list(await api.body("list-users")) == ["alice01"]


@switches(null_empty=True)
async def test_a_profile_written_back_with_nulls_still_takes_vaults(api: Api, sim: CometSimulator) -> None:
    await api.add_user("alice01")
    read = await api.body("get-user-profile-and-hash", TargetUser="alice01")
    await api.body(
        "set-user-profile-hash",
        TargetUser="alice01",
        ProfileData=read["Profile"],
        RequireHash=read["ProfileHash"],
    )
    assert sim.state.users["alice01"].profile["Destinations"] is None
    vault = await api.body("request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID)
    assert set(sim.state.users["alice01"].profile["Destinations"]) == {vault["DestinationID"]}
    assert sim.state.seed_device("alice01") in sim.state.users["alice01"].profile["Devices"]


# --- the proxy ---------------------------------------------------------------------------------


async def _add(api: Api, name: str) -> Any:
    return await api.call("add-user", TargetUser=name, TargetPassword="password-123", StoreRecoveryCode="1")


@switches(proxy_502_every=3, proxy_after_fraction=0.5)
async def test_proxy_502_every_nth_call_before_then_after(api: Api, sim: CometSimulator) -> None:
    replies = [await _add(api, f"user{i:03d}") for i in range(1, 13)]
    statuses = [r.http_status for r in replies]
    assert statuses == [200, 200, 502] * 4
    for r in replies[2::3]:
        assert r.headers["Content-Type"].startswith("text/html")
        assert "<html>" in r.text
    # The 3rd and 9th calls never reached Comet; the 6th and 12th took effect and lost their reply.
    assert set(sim.state.users) == {f"user{i:03d}" for i in range(1, 13)} - {"user003", "user009"}
    assert sim.counters.faults["proxy502_before"] == 2
    assert sim.counters.faults["proxy502_after"] == 2
    assert sim.counters.calls["add-user"] == 12
    assert sim.counters.committed["add-user"] == 10


@pytest.mark.parametrize(("fraction", "after"), [(0.0, 0), (1.0, 4), (0.25, 1)])
async def test_proxy_fraction_after(session: aiohttp.ClientSession, fraction: float, after: int) -> None:
    async with make_sim(behaviour=Behaviour(proxy_502_every=2, proxy_after_fraction=fraction)) as sim:
        api = Api(sim, session)
        for i in range(8):
            await _add(api, f"user{i:03d}")
        assert sim.counters.faults["proxy502_after"] == after
        assert sim.counters.faults["proxy502_before"] == 4 - after
        assert len(sim.state.users) == 4 + after


@switches(proxy_502_every=2, proxy_after_fraction=1.0)
async def test_proxy_after_loses_even_an_error_reply(api: Api, sim: CometSimulator) -> None:
    assert (await api.call("get-user-profile", TargetUser="ghost01")).body["Status"] == 400
    lost = await api.call("get-user-profile", TargetUser="ghost01")
    assert lost.http_status == 502
    assert (await api.call("meta/version")).http_status == 200
    assert (await api.raw("meta/version", {**api.auth, "Password": "nope"})).http_status == 502
    assert sim.counters.auth_failures == 1  # the refused login happened behind the proxy


@switches(proxy_502_every=1, proxy_after_fraction=1.0)
async def test_proxy_after_cuts_a_download(api: Api, sim: CometSimulator) -> None:
    with pytest.raises(aiohttp.ClientPayloadError):
        async with api.session.post(sim.url("branding/generate-client/linuxgeneric"), data=api.auth) as resp:
            await resp.read()
    assert sim.counters.committed["branding/generate-client/linuxgeneric"] == 0


@switches(proxy_502_every=2, proxy_after_fraction=0.0)
async def test_fault_plan_and_proxy_together(api: Api, sim: CometSimulator) -> None:
    sim.faults.add("meta/version", "http500", count=1)
    assert (await api.call("meta/version")).http_status == 500  # the plan's fault, 1st call
    assert (await api.call("meta/version")).http_status == 502  # the proxy's, 2nd call
    assert (await api.call("meta/version")).http_status == 200
    sim.faults.clear()  # also restarts the proxy's count
    assert [(await api.call("meta/version")).http_status for _ in range(2)] == [200, 502]


# --- the clock ---------------------------------------------------------------------------------

HOST_NOW = 1_700_000_000


@switches(clock_offset_s=-37.0)
async def test_clock_offset_moves_every_server_time(api: Api, sim: CometSimulator) -> None:
    sim.state.clock = lambda: float(HOST_NOW)
    server_now = HOST_NOW - 37
    reply = await api.call("meta/version")
    assert reply.body["CurrentTime"] == server_now
    assert reply.headers["Date"] == "Tue, 14 Nov 2023 22:12:43 GMT"  # HOST_NOW - 37 s
    started = reply.body["ServerStartTime"]
    await api.add_user("alice01")
    read = await api.body("get-user-profile-and-hash", TargetUser="alice01")
    assert read["Profile"]["CreateTime"] == server_now
    suspended = await api.body(
        "set-user-profile-hash",
        TargetUser="alice01",
        ProfileData={**read["Profile"], "IsSuspended": True},
        RequireHash=read["ProfileHash"],
    )
    assert suspended["Profile"]["LastSuspended"] == server_now
    await api.body("account/session-start-as-user", TargetUser="alice01")
    assert [s.created for s in sim.state.sessions.values()] == [server_now]
    vault = await api.body("request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID)
    assert vault["Profile"]["Destinations"][vault["DestinationID"]]["CreateTime"] == server_now
    assert sim.state.seed_job("alice01")["EndTime"] == server_now
    sim.state.seed_connection("alice01", "dev-1")
    assert [c["ConnectionTime"] for c in (await api.body("dispatcher/list-active")).values()] == [server_now]
    sim.set_behaviour(clock_offset_s=0.0)
    back = await api.body("meta/version")
    assert (back["CurrentTime"], back["ServerStartTime"]) == (HOST_NOW, started + 37)


async def test_date_header_on_the_reference_clock(api: Api, sim: CometSimulator) -> None:
    sim.state.clock = lambda: float(HOST_NOW)
    reply = await api.call("meta/version")
    assert reply.body["CurrentTime"] == HOST_NOW
    assert reply.headers["Date"] == "Tue, 14 Nov 2023 22:13:20 GMT"
