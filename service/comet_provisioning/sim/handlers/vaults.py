"""Storage vault endpoints: the provider templates and requesting a new Comet-storage vault."""

from __future__ import annotations

from typing import Any

from ..messages import OK
from .base import CallContext, CometError, Handler
from .users import profile_and_hash

__all__ = ["HANDLERS"]


async def list_providers(ctx: CallContext) -> Any:
    return ctx.collection(dict(ctx.state.providers))


async def request_vault(ctx: CallContext) -> Any:
    """Adds a new vault on every call, like the real server: the caller must not retry blindly.

    From 25.6.8 a `ProfileHash` makes the request conditional: refused with the stale-hash reply,
    and nothing added, when the profile changed since that hash was read. The reply then carries
    the profile after the vault was added and its new hash. Older versions ignore the parameter.
    """
    record = ctx.target_user()
    provider = ctx.param("StorageProvider")
    description = ctx.state.providers.get(provider)
    if description is None:
        raise CometError(400, "Unknown storage provider")
    current = ctx.state.version.vault_request_returns_profile
    required_hash = ctx.param("ProfileHash") if current else ""
    if required_hash and required_hash != record.profile_hash:
        raise CometError(*ctx.behaviour.stale_hash_reply("profile"))
    self_address = ctx.param("SelfAddress") or f"{ctx.request.scheme}://{ctx.request.host}/"
    destination_id = ctx.state.add_comet_vault(record, description, self_address, ctx.param("DeviceID"))
    if current:
        return {**profile_and_hash(ctx, record), "DestinationID": destination_id}
    return {"Status": 200, "Message": OK, "DestinationID": destination_id}


HANDLERS: dict[str, Handler] = {
    "request-storage-vault-providers": list_providers,
    "request-storage-vault": request_vault,
}
