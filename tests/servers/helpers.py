"""Request builders shared by the server and catalogue tests."""

from __future__ import annotations

import uuid

from comet_provisioning_client.v1 import servers_pb2

SECRET_PASSWORD = "Adm1n-Secret-Pa55word-7f3c"  # distinctive, so it can be searched for in bytes


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def connection(
    host: str = "comet.example.com",
    *,
    port: int = 0,
    protocol: int = servers_pb2.PROTOCOL_HTTPS,
    username: str = "admin",
    password: str = SECRET_PASSWORD,
) -> servers_pb2.ServerConnection:
    return servers_pb2.ServerConnection(
        protocol=protocol, host=host, port=port, admin_username=username, admin_password=password
    )


def server(name: str | None = None, **kwargs: object) -> servers_pb2.Server:
    group = str(kwargs.pop("server_group_id", ""))
    max_accounts = int(kwargs.pop("max_accounts", 0))  # type: ignore[call-overload]
    placement_order = int(kwargs.pop("placement_order", 0))  # type: ignore[call-overload]
    return servers_pb2.Server(
        display_name=name or unique("server"),
        connection=connection(**kwargs),  # type: ignore[arg-type]
        server_group_id=group,
        max_accounts=max_accounts,
        placement_order=placement_order,
    )


def sim_server(
    base_url: str, password: str, *, name: str | None = None, user: str = "admin"
) -> servers_pb2.Server:
    """A server message pointing at a simulator's http://127.0.0.1:PORT base URL."""
    host = base_url.removeprefix("http://")
    return servers_pb2.Server(
        display_name=name or unique("sim"),
        connection=servers_pb2.ServerConnection(
            protocol=servers_pb2.PROTOCOL_HTTP, host=host, admin_username=user, admin_password=password
        ),
    )
