"""Group policies: list, get, set as an upsert with an optional hash check, new."""

from __future__ import annotations

import aiohttp

from .support import Api, make_sim

GROUP_POLICY = {
    "Description": "WHMCS product 7",
    "OrganizationID": "",
    "Policy": {"PreventDeleteStorageVault": True, "ModeAdminResetPassword": 3},
    "DefaultUserPolicy": False,
}


async def test_get_unknown_policy_has_empty_hash(api: Api) -> None:
    reply = await api.body("policies/get", PolicyID="nope")
    assert reply["Status"] == 200
    assert reply["PolicyHash"] == ""


async def test_set_is_an_upsert(api: Api) -> None:
    assert await api.body("policies/set", PolicyID="p1", Policy=GROUP_POLICY) == {
        "Status": 200,
        "Message": "OK",
    }
    got = await api.body("policies/get", PolicyID="p1")
    assert got["Policy"] == GROUP_POLICY
    assert got["PolicyHash"]
    changed = {**GROUP_POLICY, "Description": "renamed"}
    await api.body("policies/set", PolicyID="p1", Policy=changed)
    again = await api.body("policies/get", PolicyID="p1")
    assert again["Policy"]["Description"] == "renamed"
    assert again["PolicyHash"] != got["PolicyHash"]
    assert await api.body("policies/list") == {"p1": "renamed"}


async def test_check_policy_hash(api: Api) -> None:
    await api.body("policies/set", PolicyID="p1", Policy=GROUP_POLICY)
    current = (await api.body("policies/get", PolicyID="p1"))["PolicyHash"]
    stale = await api.call(
        "policies/set", PolicyID="p1", Policy={**GROUP_POLICY, "Description": "x"}, CheckPolicyHash="stale"
    )
    assert stale.body["Status"] == 409
    assert api.sim.state.policies["p1"].group_policy["Description"] == GROUP_POLICY["Description"]
    good = await api.body(
        "policies/set", PolicyID="p1", Policy={**GROUP_POLICY, "Description": "y"}, CheckPolicyHash=current
    )
    assert good["Status"] == 200
    assert api.sim.state.policies["p1"].group_policy["Description"] == "y"


async def test_set_validates_input(api: Api) -> None:
    assert (await api.call("policies/set", PolicyID="", Policy=GROUP_POLICY)).body["Status"] == 400
    assert (await api.call("policies/set", PolicyID="p", Policy="not json")).body["Status"] == 400
    assert api.sim.state.policies == {}


async def test_new_generates_an_id(api: Api) -> None:
    reply = await api.body("policies/new", Policy=GROUP_POLICY)
    assert set(reply) == {"Status", "Message", "PolicyHash"}
    assert reply["PolicyHash"]
    listed = await api.body("policies/list")
    assert list(listed.values()) == ["WHMCS product 7"]
    (policy_id,) = listed
    assert (await api.body("policies/get", PolicyID=policy_id))["PolicyHash"] == reply["PolicyHash"]


async def test_list_filters_by_organization(api: Api) -> None:
    await api.body("policies/set", PolicyID="a", Policy={**GROUP_POLICY, "OrganizationID": "org-a"})
    await api.body("policies/set", PolicyID="b", Policy={**GROUP_POLICY, "OrganizationID": "org-b"})
    assert set(await api.body("policies/list", TargetOrganization="org-b")) == {"b"}
    assert set(await api.body("policies/list")) == {"a", "b"}


async def test_list_full_returns_every_policy_body(api: Api) -> None:
    assert await api.body("policies/list-full") == {}
    await api.body("policies/set", PolicyID="a", Policy={**GROUP_POLICY, "OrganizationID": "org-a"})
    await api.body("policies/set", PolicyID="b", Policy={**GROUP_POLICY, "OrganizationID": "org-b"})
    full = await api.body("policies/list-full")
    assert full == {
        "a": {**GROUP_POLICY, "OrganizationID": "org-a"},
        "b": {**GROUP_POLICY, "OrganizationID": "org-b"},
    }
    assert set(await api.body("policies/list-full", TargetOrganization="org-a")) == {"a"}


async def test_list_full_ignores_the_organization_before_22_3_7(session: aiohttp.ClientSession) -> None:
    async with make_sim(version="22.3.6") as sim:
        api = Api(sim, session)
        await api.body("policies/set", PolicyID="a", Policy={**GROUP_POLICY, "OrganizationID": "org-a"})
        await api.body("policies/set", PolicyID="b", Policy=GROUP_POLICY)
        assert set(await api.body("policies/list-full", TargetOrganization="org-a")) == {"a", "b"}
