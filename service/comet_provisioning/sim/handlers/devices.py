"""Device endpoints: live connections, profile refetch and device revocation."""

from __future__ import annotations

from typing import Any

from .base import CallContext, CometError, Handler, ok

__all__ = ["HANDLERS"]


async def list_active(ctx: CallContext) -> Any:
    name = ctx.param("UserNameFilter") if ctx.state.version.supports_username_filter else ""
    return ctx.collection(
        {cid: conn for cid, conn in ctx.state.connections.items() if not name or conn.get("Username") == name}
    )


async def refetch_profile(ctx: CallContext) -> Any:
    target = ctx.require("TargetID")
    if target not in ctx.state.connections:
        raise CometError(400, "No such live connection")
    ctx.state.refetch_requests.append(target)
    return ok()


async def revoke_device(ctx: CallContext) -> Any:
    record = ctx.target_user()
    device_id = ctx.require("TargetDevice")
    devices = record.profile.get("Devices") or {}
    if device_id not in devices:
        raise CometError(400, "Device not found")
    del devices[device_id]
    record.touch()
    state = ctx.state
    for cid in [c for c, v in state.connections.items() if v.get("DeviceID") == device_id]:
        del state.connections[cid]
    state.revoked_devices.append((record.username, device_id))
    return ok()


HANDLERS: dict[str, Handler] = {
    "dispatcher/list-active": list_active,
    "dispatcher/refetch-profile": refetch_profile,
    "revoke-device": revoke_device,
}
