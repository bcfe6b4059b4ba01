"""Storage vault requests: providers are seedable; every request adds a new Comet vault."""

from __future__ import annotations

from comet_provisioning.sim import DEFAULT_PROVIDER_ID, DEFAULT_PROVIDER_NAME

from .support import Api


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
