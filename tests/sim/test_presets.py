"""The named behaviour profiles, and building and validating a `Behaviour`."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest
from comet_provisioning.sim import (
    BEHAVIOUR_PROFILES,
    DEFAULT_PROVIDER_ID,
    PRESETS,
    Behaviour,
    CometSimulator,
    resolve_behaviour,
)
from comet_provisioning.sim.behaviour import switch_specs

from .support import Api, make_sim


def test_profiles_are_exported_by_name() -> None:
    assert BEHAVIOUR_PROFILES == ("reference", "legacy", "translated", "hostile")
    for name in BEHAVIOUR_PROFILES:
        assert resolve_behaviour(name).preset_name() == name
    assert resolve_behaviour(None) == Behaviour() == PRESETS["reference"]


def test_presets_say_what_the_brief_says() -> None:
    legacy, translated, hostile = PRESETS["legacy"], PRESETS["translated"], PRESETS["hostile"]
    assert (legacy.version, legacy.unknown_user, legacy.duplicate_user) == ("20.9.0", "403", "message-500")
    assert (legacy.unknown_policy, legacy.null_empty, legacy.stale_hash) == ("error-400", True, "message-400")
    assert (translated.language, translated.duplicate_user, translated.unknown_policy) == (
        "es",
        "message-500",
        "error-500",
    )
    assert dataclasses.replace(hostile, proxy_502_every=0, clock_offset_s=0.0) == legacy
    assert (hostile.proxy_502_every, hostile.proxy_after_fraction) == (7, 0.5)
    assert 10 <= abs(hostile.clock_offset_s) < 100


@pytest.mark.parametrize(
    "bad",
    [
        {"duplicate_user": "409"},
        {"unknown_policy": "maybe"},
        {"unknown_user": 403},
        {"stale_hash": "code-412"},
        {"language": "fr"},
        {"null_empty": "yes"},
        {"proxy_502_every": -1},
        {"proxy_502_every": 1.5},
        {"proxy_after_fraction": 1.5},
        {"clock_offset_s": "ten"},
        {"unknown_user_message": ""},
        {"version": "banana"},
        {"version": "17.1.0"},
        {"no_such_switch": 1},
    ],
)
def test_invalid_switches_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        Behaviour().with_changes(bad)


def test_changes_and_json() -> None:
    changed = resolve_behaviour("legacy", {"language": "es", "clock_offset_s": 12})
    assert changed.clock_offset_s == 12.0
    assert isinstance(changed.clock_offset_s, float)
    assert changed.preset_name() is None
    out = changed.to_json()
    assert out["profile"] is None
    assert out["language"] == "es"
    assert out["version"] == "20.9.0"
    assert set(out) == {"profile"} | {spec.name for spec in switch_specs()}
    assert Behaviour().to_json()["profile"] == "reference"
    with pytest.raises(ValueError, match="unknown behaviour profile"):
        resolve_behaviour("nice")


def test_switch_specs_cover_every_field() -> None:
    specs = {spec.name: spec for spec in switch_specs()}
    assert list(specs) == [f.name for f in dataclasses.fields(Behaviour)]
    assert specs["null_empty"].kind is bool
    assert specs["duplicate_user"].choices == ("code-400", "message-400", "message-500")
    assert all(spec.help for spec in specs.values())
    assert Behaviour(**{name: spec.default for name, spec in specs.items()}) == Behaviour()


async def test_simulator_takes_a_profile_and_its_version(session: aiohttp.ClientSession) -> None:
    async with make_sim(behaviour="legacy") as sim:
        assert sim.state.version.text == "20.9.0"
        assert sim.behaviour == PRESETS["legacy"]
        api = Api(sim, session)
        assert (await api.call("get-user-profile", TargetUser="ghost01")).body == {
            "Status": 403,
            "Message": "Unauthorised",
        }
    async with make_sim(behaviour="legacy", version="22.6.7") as sim:
        assert sim.state.version.text == "22.6.7"  # an explicit version wins
    async with make_sim(behaviour=PRESETS["translated"]) as sim:
        assert sim.state.version.text == "25.9.0"
        reply = await Api(sim, session).call("policies/get", PolicyID="nope")
        assert reply.body == {"Status": 500, "Message": "Política no encontrada"}
    with pytest.raises(ValueError, match="unknown behaviour profile"):
        make_sim(behaviour="nice")


async def test_set_behaviour_in_process(api: Api, sim: CometSimulator) -> None:
    assert sim.set_behaviour("hostile") == PRESETS["hostile"]
    assert sim.state.version.text == "20.9.0"
    assert sim.set_behaviour(proxy_502_every=0).proxy_502_every == 0
    assert sim.behaviour.null_empty is True  # the other switches stay
    sim.set_behaviour(version="25.9.0")
    assert sim.state.version.text == "25.9.0"
    sim.set_behaviour(language="es")
    assert sim.state.version.text == "25.9.0"  # a switch change leaves the version alone
    assert (await api.call("get-user-profile", TargetUser="ghost01")).body == {
        "Status": 403,
        "Message": "No autorizado",
    }


@pytest.mark.parametrize("profile", BEHAVIOUR_PROFILES)
async def test_every_profile_serves_a_whole_lifecycle(session: aiohttp.ClientSession, profile: str) -> None:
    """Whatever the profile, the state behind the replies is the same; only the replies differ."""
    async with make_sim(behaviour=profile) as sim:
        sim.set_behaviour(proxy_502_every=0)
        api = Api(sim, session)
        assert (await api.add_user("alice01"))["Status"] == 200
        duplicate = await api.call("add-user", TargetUser="alice01", TargetPassword="password-456")
        assert duplicate.body["Status"] in (400, 500)
        assert sim.state.users["alice01"].password == "password-123"
        read = await api.body("get-user-profile-and-hash", TargetUser="alice01")
        written = await api.body(
            "set-user-profile-hash",
            TargetUser="alice01",
            ProfileData={**read["Profile"], "MaximumDevices": 3},
            RequireHash=read["ProfileHash"],
        )
        assert written["Status"] == 200
        assert sim.state.users["alice01"].profile["MaximumDevices"] == 3
        stale = await api.call(
            "set-user-profile-hash",
            TargetUser="alice01",
            ProfileData=read["Profile"],
            RequireHash=read["ProfileHash"],
        )
        assert stale.body["Status"] in (400, 409, 500)
        assert sim.state.users["alice01"].profile["MaximumDevices"] == 3
        vault = await api.body(
            "request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID
        )
        assert set(sim.state.users["alice01"].profile["Destinations"]) == {vault["DestinationID"]}
        unknown = await api.body("policies/get", PolicyID="p1")
        assert not unknown.get("PolicyHash")
        await api.body("policies/set", PolicyID="p1", Policy={"Description": "d", "Policy": {}})
        assert (await api.body("policies/get", PolicyID="p1"))["PolicyHash"]
        assert (await api.body("delete-user", TargetUser="alice01"))["Status"] == 200
        gone = await api.call("delete-user", TargetUser="alice01")
        assert gone.body["Status"] in (400, 403)
        assert "alice01" not in sim.state.users
