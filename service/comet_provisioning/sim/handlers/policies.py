"""Group policy endpoints: list, get, set (an upsert, optionally hash-checked) and new."""

from __future__ import annotations

from typing import Any

from .base import CallContext, CometError, Handler, ok

__all__ = ["HANDLERS"]

ERR_POLICY_HASH_MISMATCH = "ERR_POLICY_HASH_MISMATCH"

_EMPTY_GROUP_POLICY: dict[str, Any] = {
    "Description": "",
    "OrganizationID": "",
    "Policy": {},
    "DefaultUserPolicy": False,
}


async def list_policies(ctx: CallContext) -> Any:
    org = ctx.param("TargetOrganization") if ctx.state.version.supports_organizations else ""
    return {
        pid: str(rec.group_policy.get("Description", ""))
        for pid, rec in ctx.state.policies.items()
        if not org or rec.group_policy.get("OrganizationID", "") == org
    }


async def get_policy(ctx: CallContext) -> Any:
    record = ctx.state.policies.get(ctx.param("PolicyID"))
    if record is None:
        return {"Status": 200, "Message": "OK", "Policy": dict(_EMPTY_GROUP_POLICY), "PolicyHash": ""}
    return {"Status": 200, "Message": "OK", "Policy": record.group_policy, "PolicyHash": record.policy_hash}


async def set_policy(ctx: CallContext) -> Any:
    policy_id = ctx.require("PolicyID")
    group_policy = ctx.json_object_param("Policy")
    assert group_policy is not None
    check = ctx.param("CheckPolicyHash")
    if check:
        current = ctx.state.policies.get(policy_id)
        if current is None or current.policy_hash != check:
            raise CometError(409, ERR_POLICY_HASH_MISMATCH)
    ctx.state.set_policy(policy_id, group_policy)
    return ok()


async def new_policy(ctx: CallContext) -> Any:
    group_policy = ctx.json_object_param("Policy")
    assert group_policy is not None
    policy_hash = ctx.state.set_policy(ctx.state.ids.guid(), group_policy)
    return {"Status": 200, "Message": "OK", "PolicyHash": policy_hash}


HANDLERS: dict[str, Handler] = {
    "policies/list": list_policies,
    "policies/get": get_policy,
    "policies/set": set_policy,
    "policies/new": new_policy,
}
