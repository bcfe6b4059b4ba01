"""Server identity and routing: meta/version, account/properties, unknown endpoints, GETs."""

from __future__ import annotations

import aiohttp

from .support import Api, make_sim


async def test_meta_version_fields(api: Api) -> None:
    body = await api.body("meta/version")
    for key in (
        "Version",
        "VersionCodename",
        "StorageRole",
        "AuthenticationRole",
        "ServerStartTime",
        "ServerStartHash",
        "CurrentTime",
    ):
        assert key in body, key
    assert body["Version"] == "25.9.0"
    assert body["ServerStartTime"] <= body["CurrentTime"]
    assert "Status" not in body
    # The rest of the SDKs' ServerMetaVersionInfo.
    for key in (
        "SoftwareBuildRole",
        "OverseerRole",
        "ConstellationRole",
        "ExperimentalOptions",
        "ServerLicenseHash",
        "ServerLicenseFeatureSet",
        "ServerLicenseLimit",
        "ConfiguredDevices",
        "BoosterLimit",
        "LicenseValidUntil",
        "EmailsSentSuccessfully",
        "EmailsSentErrors",
        "EmailsWaitingInQueue",
        "ScheduledEmailThreadCurrentState",
        "SelfBackup",
    ):
        assert key in body, key
    assert body["ServerStartHash"] == api.sim.state.server_start_hash


async def test_presents_old_version(session: aiohttp.ClientSession) -> None:
    async with make_sim(version="20.9.0") as sim:
        body = await Api(sim, session).body("meta/version")
        assert body["Version"] == "20.9.0"


async def test_account_properties(api: Api) -> None:
    body = await api.body("account/properties")
    assert set(body) >= {"OrganizationID", "Permissions", "Security"}
    assert "TOTPKeyEncryptionFormat" in body["Security"]


async def test_unknown_endpoint_is_404(api: Api) -> None:
    reply = await api.call("no/such/thing")
    assert reply.http_status == 404
    assert reply.body["Status"] == 404


async def test_admin_api_is_post_only(api: Api) -> None:
    async with api.session.get(api.sim.url("meta/version")) as resp:
        assert resp.status == 405
    assert api.sim.counters.calls["meta/version"] == 0


async def test_booleans_accept_true_and_1(api: Api) -> None:
    await api.body("add-user", TargetUser="flag001", TargetPassword="password-1", StoreRecoveryCode="true")
    await api.body("add-user", TargetUser="flag002", TargetPassword="password-1", StoreRecoveryCode="0")
    assert api.sim.state.users["flag001"].recovery_code is not None
    assert api.sim.state.users["flag002"].recovery_code is None
