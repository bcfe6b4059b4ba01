"""The admin API endpoint table (contract §2): endpoint path -> handler."""

from __future__ import annotations

from . import account, devices, jobs, policies, users, vaults
from .base import CallContext, CometError, Handler, carm
from .branding import PREFIX as BRANDING_PREFIX
from .branding import generate_client

__all__ = [
    "ENDPOINTS",
    "STREAMING_PREFIXES",
    "CallContext",
    "CometError",
    "Handler",
    "carm",
    "is_streaming",
    "resolve",
]

ENDPOINTS: dict[str, Handler] = {
    **users.HANDLERS,
    **policies.HANDLERS,
    **vaults.HANDLERS,
    **devices.HANDLERS,
    **jobs.HANDLERS,
    **account.HANDLERS,
}

STREAMING_PREFIXES = (BRANDING_PREFIX,)


def resolve(endpoint: str) -> Handler | None:
    """The handler for an endpoint path (the part after `/api/v1/admin/`), or None."""
    handler = ENDPOINTS.get(endpoint)
    if handler is None and endpoint.startswith(BRANDING_PREFIX):
        return generate_client
    return handler


def is_streaming(endpoint: str) -> bool:
    return endpoint.startswith(STREAMING_PREFIXES)
