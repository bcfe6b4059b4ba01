"""Group policy endpoints: list, list-full, get, set (an upsert, optionally hash-checked) and new."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..messages import OK
from ..state import PolicyRecord
from .base import CallContext, CometError, Handler, ok

__all__ = ["HANDLERS"]


def _policies_of(ctx: CallContext) -> Iterator[tuple[str, PolicyRecord]]:
    """The policies the call lists: all, or one organisation's when TargetOrganization is given."""
    org = ctx.param("TargetOrganization") if ctx.state.version.supports_organizations else ""
    for pid, record in ctx.state.policies.items():
        if not org or record.group_policy.get("OrganizationID", "") == org:
            yield pid, record


async def list_policies(ctx: CallContext) -> Any:
    return ctx.collection(
        {pid: str(rec.group_policy.get("Description", "")) for pid, rec in _policies_of(ctx)}
    )


async def list_policies_full(ctx: CallContext) -> Any:
    return ctx.collection({pid: rec.group_policy for pid, rec in _policies_of(ctx)})


async def get_policy(ctx: CallContext) -> Any:
    record = ctx.state.policies.get(ctx.param("PolicyID"))
    if record is None:
        return ctx.behaviour.unknown_policy_reply()
    return {"Status": 200, "Message": OK, "Policy": record.group_policy, "PolicyHash": record.policy_hash}


async def set_policy(ctx: CallContext) -> Any:
    policy_id = ctx.require("PolicyID")
    group_policy = ctx.json_object_param("Policy")
    assert group_policy is not None
    check = ctx.param("CheckPolicyHash")
    if check:
        current = ctx.state.policies.get(policy_id)
        if current is None or current.policy_hash != check:
            raise CometError(*ctx.behaviour.stale_hash_reply("policy"))
    ctx.state.set_policy(policy_id, group_policy)
    return ok()


async def new_policy(ctx: CallContext) -> Any:
    group_policy = ctx.json_object_param("Policy")
    assert group_policy is not None
    policy_hash = ctx.state.set_policy(ctx.state.ids.guid(), group_policy)
    return {"Status": 200, "Message": OK, "PolicyHash": policy_hash}


HANDLERS: dict[str, Handler] = {
    "policies/list": list_policies,
    "policies/list-full": list_policies_full,
    "policies/get": get_policy,
    "policies/set": set_policy,
    "policies/new": new_policy,
}
