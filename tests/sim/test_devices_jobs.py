"""Live connections, device revocation, job listing and custom job searches."""

from __future__ import annotations

import json

import aiohttp

from .support import Api, make_sim

# The SDKs' LiveUserConnection and OSInfo (lower-case keys).
LIVE_CONNECTION_FIELDS = {
    "Username",
    "DeviceID",
    "ReportedVersion",
    "ReportedPlatform",
    "ReportedPlatformVersion",
    "DeviceTimeZone",
    "IPAddress",
    "ConnectionTime",
    "AllowsFilenames",
}
OS_INFO_KEYS = {"version", "distribution", "build", "os", "arch"}


def _rule(field: str, op: str, value: str) -> dict[str, object]:
    return {"ClauseType": "", "RuleField": f"BackupJobDetail.{field}", "RuleOperator": op, "RuleValue": value}


async def test_list_active_and_username_filter(api: Api) -> None:
    state = api.sim.state
    a = state.seed_connection("alice01", "dev-a")
    b = state.seed_connection("bobby01", "dev-b", ReportedPlatform="linux")
    everything = await api.body("dispatcher/list-active")
    assert set(everything) == {a, b}
    assert everything[b]["ReportedPlatform"] == "linux"
    assert set(everything[a]) == LIVE_CONNECTION_FIELDS
    assert everything[a]["ReportedPlatform"] == "windows/amd64"
    assert everything[a]["DeviceTimeZone"] == "UTC"
    assert set(everything[a]["ReportedPlatformVersion"]) == OS_INFO_KEYS
    assert everything[a]["ReportedPlatformVersion"]["os"] == "windows"
    assert set(await api.body("dispatcher/list-active", UserNameFilter="alice01")) == {a}


async def test_username_filter_ignored_before_22_6_7(session: aiohttp.ClientSession) -> None:
    async with make_sim(version="22.6.6") as sim:
        sim.state.seed_connection("alice01", "dev-a")
        sim.state.seed_connection("bobby01", "dev-b")
        api = Api(sim, session)
        assert len(await api.body("dispatcher/list-active", UserNameFilter="alice01")) == 2


async def test_refetch_profile(api: Api) -> None:
    conn = api.sim.state.seed_connection("alice01", "dev-a")
    assert await api.body("dispatcher/refetch-profile", TargetID=conn) == {"Status": 200, "Message": "OK"}
    assert api.sim.state.refetch_requests == [conn]
    assert (await api.call("dispatcher/refetch-profile", TargetID="nope")).body["Status"] == 400


async def test_revoke_device(api: Api) -> None:
    state = api.sim.state
    state.seed_user("alice01")
    device = state.seed_device("alice01", friendly_name="Laptop")
    state.seed_connection("alice01", device)
    before = state.users["alice01"].profile_hash
    reply = await api.body("revoke-device", TargetUser="alice01", TargetDevice=device)
    assert reply == {"Status": 200, "Message": "OK"}
    assert state.users["alice01"].profile["Devices"] == {}
    assert state.connections == {}
    assert state.users["alice01"].profile_hash != before
    again = await api.call("revoke-device", TargetUser="alice01", TargetDevice=device)
    assert again.body["Status"] == 400


async def test_seeded_protected_items_carry_last_job_size(api: Api) -> None:
    state = api.sim.state
    state.seed_user("alice01")
    device = state.seed_device("alice01")
    item = state.seed_protected_item("alice01", owner_device=device, total_size=1234, description="Docs")
    profile = await api.body("get-user-profile", TargetUser="alice01")
    source = profile["Sources"][item]
    assert source["Description"] == "Docs"
    assert source["OwnerDevice"] == device
    assert source["Statistics"]["LastBackupJob"]["TotalSize"] == 1234
    assert source["Statistics"]["LastBackupJob"]["SourceGUID"] == item


async def test_jobs_for_user(api: Api) -> None:
    state = api.sim.state
    state.seed_user("alice01")
    state.seed_user("bobby01")
    mine = state.seed_job("alice01", TotalSize=10)
    state.seed_job("bobby01")
    jobs = await api.body("get-jobs-for-user", TargetUser="alice01")
    assert [job["GUID"] for job in jobs] == [mine["GUID"]]
    assert jobs[0]["TotalSize"] == 10
    missing = await api.call("get-jobs-for-user", TargetUser="ghost01")
    assert missing.body["Message"] == "User not found"


async def test_jobs_for_custom_search_and_or(api: Api) -> None:
    state = api.sim.state
    old = state.seed_job("alice01", StartTime=1000)
    new = state.seed_job("alice01", StartTime=5000, Status=7002)
    other = state.seed_job("bobby01", StartTime=6000)
    query = {
        "ClauseType": "and",
        "ClauseChildren": [_rule("Username", "str_eq", "alice01"), _rule("StartTime", "int_gt", "2000")],
    }
    result = await api.body("get-jobs-for-custom-search", Query=query)
    assert [job["GUID"] for job in result] == [new["GUID"]]
    either = {
        "ClauseType": "or",
        "ClauseChildren": [_rule("StartTime", "int_lt", "1500"), _rule("Username", "str_eq", "bobby01")],
    }
    guids = {job["GUID"] for job in await api.body("get-jobs-for-custom-search", Query=json.dumps(either))}
    assert guids == {old["GUID"], other["GUID"]}
    failed = await api.body("get-jobs-for-custom-search", Query=_rule("Status", "int_gte", "7000"))
    assert [job["GUID"] for job in failed] == [new["GUID"]]


async def test_bad_search_query(api: Api) -> None:
    for query in ({"ClauseType": "xor"}, _rule("Username", "str_like", "x"), "nope"):
        reply = await api.call("get-jobs-for-custom-search", Query=query)
        assert reply.body["Status"] == 400, query


async def test_devices_carry_vendor_field_names(api: Api) -> None:
    state = api.sim.state
    state.seed_user("alice01")
    laptop = state.seed_device("alice01", friendly_name="Laptop", platform="windows")
    server = state.seed_device("alice01", friendly_name="NAS", platform="linux")
    mac = state.seed_device("alice01", platform="macos")
    devices = (await api.body("get-user-profile", TargetUser="alice01"))["Devices"]
    for device_id, goos in ((laptop, "windows"), (server, "linux"), (mac, "darwin")):
        device = devices[device_id]
        assert set(device["PlatformVersion"]) == OS_INFO_KEYS
        assert device["PlatformVersion"]["os"] == goos
        assert device["DeviceTimezone"] == "UTC"  # the device's spelling; a live connection says TimeZone
        assert device["RegistrationTime"] > 0
        assert device["ClientVersion"]
    assert devices[laptop]["PlatformVersion"]["distribution"] == "Windows 10 Pro"
    conn = state.seed_connection("alice01", server, platform="linux")
    live = (await api.body("dispatcher/list-active"))[conn]
    assert live["ReportedPlatform"] == "linux/amd64"
    assert live["ReportedPlatformVersion"] == devices[server]["PlatformVersion"]
