"""Storage vault requests: providers are seedable; every request adds a new Comet vault; from 25.6.8
a ProfileHash makes it conditional and the reply carries the new profile and hash."""

from __future__ import annotations

import aiohttp
import pytest
from comet_provisioning.sim import DEFAULT_PROVIDER_ID, DEFAULT_PROVIDER_NAME

from .support import Api, make_sim


async def test_providers_default_and_seeded(api: Api) -> None:
    assert await api.body("request-storage-vault-providers") == {DEFAULT_PROVIDER_ID: DEFAULT_PROVIDER_NAME}
    api.sim.state.seed_provider("P2", "Wasabi via Comet")
    assert (await api.body("request-storage-vault-providers"))["P2"] == "Wasabi via Comet"


async def test_every_request_adds_a_new_vault(api: Api) -> None:
    await api.add_user("alice01")
    first = await api.body("request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID)
    second = await api.body(
        "request-storage-vault",
        TargetUser="alice01",
        StorageProvider=DEFAULT_PROVIDER_ID,
        SelfAddress="https://comet.example/",
    )
    assert first["Status"] == second["Status"] == 200
    assert first["DestinationID"] != second["DestinationID"]
    destinations = api.sim.state.users["alice01"].profile["Destinations"]
    assert set(destinations) == {first["DestinationID"], second["DestinationID"]}
    vault = destinations[second["DestinationID"]]
    assert vault["DestinationType"] == 1003
    assert vault["Description"] == DEFAULT_PROVIDER_NAME
    assert vault["Statistics"]["ClientProvidedSize"]["Size"] == 0
    assert vault["CometServer"] == "https://comet.example/"
    assert api.sim.counters.commits_for("request-storage-vault", "alice01") == 2


async def test_unknown_provider_or_user(api: Api) -> None:
    await api.add_user("alice01")
    reply = await api.call("request-storage-vault", TargetUser="alice01", StorageProvider="nope")
    assert reply.body["Status"] == 400
    assert api.sim.state.users["alice01"].profile["Destinations"] == {}
    missing = await api.call(
        "request-storage-vault", TargetUser="ghost01", StorageProvider=DEFAULT_PROVIDER_ID
    )
    assert missing.body == {"Status": 400, "Message": "User not found"}


async def test_seeded_vault_statistics_visible(api: Api) -> None:
    state = api.sim.state
    state.seed_user("alice01")
    vault = state.seed_vault("alice01", size=5 * 1024**3)
    profile = await api.body("get-user-profile", TargetUser="alice01")
    assert profile["Destinations"][vault]["Statistics"]["ClientProvidedSize"]["Size"] == 5 * 1024**3
    state.set_vault_usage("alice01", vault, 7)
    profile = await api.body("get-user-profile", TargetUser="alice01")
    assert profile["Destinations"][vault]["Statistics"]["ClientProvidedSize"]["Size"] == 7


async def test_current_version_returns_the_profile_and_hash(api: Api) -> None:
    await api.add_user("alice01")
    reply = await api.body(
        "request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID, DeviceID="dev-1"
    )
    assert set(reply) == {"Status", "Message", "DestinationID", "ProfileHash", "Profile"}
    record = api.sim.state.users["alice01"]
    assert reply["ProfileHash"] == record.profile_hash
    # The same profile get-user-profile-and-hash returns, after the vault was added.
    read = await api.body("get-user-profile-and-hash", TargetUser="alice01")
    assert (read["ProfileHash"], read["Profile"]) == (reply["ProfileHash"], reply["Profile"])
    assert list(reply["Profile"]["Destinations"]) == [reply["DestinationID"]]
    assert reply["Profile"]["Destinations"][reply["DestinationID"]]["AssociatedDevices"] == ["dev-1"]
    # A hash-checked write can follow at once, without a read.
    written = await api.body(
        "set-user-profile-hash",
        TargetUser="alice01",
        ProfileData={**reply["Profile"], "MaximumDevices": 2},
        RequireHash=reply["ProfileHash"],
    )
    assert written["Status"] == 200
    assert record.profile["MaximumDevices"] == 2


async def test_profile_hash_makes_the_request_conditional(api: Api) -> None:
    await api.add_user("alice01")
    record = api.sim.state.users["alice01"]
    read_hash = record.profile_hash
    first = await api.body(
        "request-storage-vault",
        TargetUser="alice01",
        StorageProvider=DEFAULT_PROVIDER_ID,
        ProfileHash=read_hash,
    )
    assert first["Status"] == 200
    # A repeat with the hash read before the vault was added is refused: no second vault.
    repeat = await api.call(
        "request-storage-vault",
        TargetUser="alice01",
        StorageProvider=DEFAULT_PROVIDER_ID,
        ProfileHash=read_hash,
    )
    assert repeat.body == {"Status": 409, "Message": "ERR_PROFILE_HASH_MISMATCH"}
    assert list(record.profile["Destinations"]) == [first["DestinationID"]]
    assert record.profile_hash == first["ProfileHash"]
    assert api.sim.counters.commits_for("request-storage-vault", "alice01") == 1
    # With the hash the first reply returned it goes through.
    chained = await api.body(
        "request-storage-vault",
        TargetUser="alice01",
        StorageProvider=DEFAULT_PROVIDER_ID,
        ProfileHash=first["ProfileHash"],
    )
    assert len(record.profile["Destinations"]) == 2
    assert chained["ProfileHash"] == record.profile_hash


@pytest.mark.parametrize("version", ["25.6.7", "20.9.0"])
async def test_older_versions_ignore_the_hash_and_return_the_id_only(
    session: aiohttp.ClientSession, version: str
) -> None:
    async with make_sim(version=version) as sim:
        api = Api(sim, session)
        await api.add_user("alice01")
        stale = sim.state.users["alice01"].profile_hash
        await api.body("request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID)
        reply = await api.body(
            "request-storage-vault",
            TargetUser="alice01",
            StorageProvider=DEFAULT_PROVIDER_ID,
            ProfileHash=stale,
        )
        assert set(reply) == {"Status", "Message", "DestinationID"}
        assert reply["Status"] == 200
        assert len(sim.state.users["alice01"].profile["Destinations"]) == 2


async def test_version_switch_at_25_6_8(session: aiohttp.ClientSession) -> None:
    async with make_sim(version="25.6.8") as sim:
        api = Api(sim, session)
        await api.add_user("alice01")
        reply = await api.body(
            "request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID
        )
        assert "Profile" in reply
        sim.state.set_version("25.6.7")
        reply = await api.body(
            "request-storage-vault", TargetUser="alice01", StorageProvider=DEFAULT_PROVIDER_ID
        )
        assert "Profile" not in reply
