"""Storage vault endpoints: the provider templates and requesting a new Comet-storage vault."""

from __future__ import annotations

from typing import Any

from .base import CallContext, CometError, Handler

__all__ = ["HANDLERS"]


async def list_providers(ctx: CallContext) -> Any:
    return dict(ctx.state.providers)


async def request_vault(ctx: CallContext) -> Any:
    """Adds a new vault on every call, like the real server: the caller must not retry blindly."""
    record = ctx.target_user()
    provider = ctx.param("StorageProvider")
    description = ctx.state.providers.get(provider)
    if description is None:
        raise CometError(400, "Unknown storage provider")
    self_address = ctx.param("SelfAddress") or f"{ctx.request.scheme}://{ctx.request.host}/"
    destination_id = ctx.state.add_comet_vault(record, description, self_address)
    return {"Status": 200, "Message": "OK", "DestinationID": destination_id}


HANDLERS: dict[str, Handler] = {
    "request-storage-vault-providers": list_providers,
    "request-storage-vault": request_vault,
}
