"""Field masks of UpdateServer and UpdateServerGroup (AIP-134): which paths may be named, and the
stored record merged with the request as a spec to check again."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .connection import parse_host
from .masks import apply_mask, expand_mask
from .models import ConnectionSpec, Server, ServerGroup, ServerGroupSpec, ServerSpec, TlsSpec

__all__ = ["TARGET_FIELDS", "group_leaves", "merge_group", "merge_server", "server_leaves"]

_TLS_LEAVES = ("connection.tls.insecure_skip_verify", "connection.tls.ca_bundle_pem")
_CONNECTION_LEAVES = (
    "connection.protocol",
    "connection.host",
    "connection.port",
    "connection.admin_username",
    "connection.admin_password",
    *_TLS_LEAVES,
)
_SERVER_LEAVES = (
    "display_name",
    *_CONNECTION_LEAVES,
    "server_group_id",
    "max_accounts",
    "max_connections",
    "placement_order",
    "draining",
)
_SERVER_GROUPS = {"*": _SERVER_LEAVES, "connection": _CONNECTION_LEAVES, "connection.tls": _TLS_LEAVES}
_SERVER_OUTPUT_ONLY = (
    "id",
    "base_url",
    "account_count",
    "admin_password_set",
    "create_time",
    "update_time",
    "comet_version",
    "comet_version_time",
    "health",
)
# What decides which Comet server is reached, as whom: a change is tested before it is saved.
TARGET_FIELDS = (
    "protocol",
    "host",
    "port",
    "admin_username",
    "tls_insecure_skip_verify",
    "tls_ca_bundle_pem",
)
_GROUP_LEAVES = ("name", "placement_rule", "failover")
_GROUP_OUTPUT_ONLY = ("id", "server_ids", "create_time", "update_time")


def _spec_of(server: Server) -> ServerSpec:
    return ServerSpec(
        display_name=server.display_name,
        connection=ConnectionSpec(
            protocol=server.protocol.upper(),
            host=server.host if ":" not in server.host else f"[{server.host}]",
            port=server.port,
            admin_username=server.admin_username,
            admin_password=None,
            tls=TlsSpec(server.tls_insecure_skip_verify, server.tls_ca_bundle_pem),
        ),
        server_group_id=server.server_group_id or "",
        max_accounts=server.max_accounts,
        max_connections=server.max_connections,
        placement_order=server.placement_order,
        draining=server.draining,
    )


def server_leaves(mask: Sequence[str]) -> set[str]:
    """The fields an UpdateServer mask names (INVALID_ARGUMENT naming every bad path)."""
    return expand_mask(mask, groups=_SERVER_GROUPS, leaves=_SERVER_LEAVES, output_only=_SERVER_OUTPUT_ONLY)


def group_leaves(mask: Sequence[str]) -> set[str]:
    return expand_mask(
        mask, groups={"*": _GROUP_LEAVES}, leaves=_GROUP_LEAVES, output_only=_GROUP_OUTPUT_ONLY
    )


def merge_server(current: Server, spec: ServerSpec, mask: Sequence[str], leaves: set[str]) -> ServerSpec:
    """The stored server with the fields `leaves` (of `mask`) names taken from `spec`; its admin
    password is None (keep the stored one) unless the mask names it or it is sent."""
    merged = _spec_of(current)
    incoming = dataclasses.replace(spec, connection=spec.connection or ConnectionSpec())
    assert merged.connection is not None
    assert incoming.connection is not None
    try:
        typed = parse_host(incoming.connection.host) if "connection.host" in leaves else None
    except ValueError:
        typed = None
    apply_mask(merged, incoming, leaves)
    if typed is not None and typed.port is not None and "connection.port" not in leaves:
        merged.connection.port = 0  # "host:port" typed alone moves the port too
    if typed is not None and typed.scheme and "connection.protocol" not in leaves:
        merged.connection.protocol = "UNSPECIFIED"
    if "connection.admin_password" not in mask and not merged.connection.admin_password:
        merged.connection.admin_password = None  # input only: not re-sent means unchanged
    return merged


def merge_group(current: ServerGroup, spec: ServerGroupSpec, leaves: set[str]) -> ServerGroupSpec:
    merged = ServerGroupSpec(
        name=current.name, placement_rule=current.placement_rule, failover=current.failover
    )
    apply_mask(merged, spec, leaves)
    return merged
