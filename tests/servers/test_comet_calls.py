"""TestConnection, ListPolicyGroups, ListStorageProviders and CreateAdminSession against the
Comet Server simulator (and against things that are not Comet servers)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from comet_provisioning.sim import CometSimulator
from comet_provisioning.sim.faults import FaultRule
from comet_provisioning_client.v1 import servers_pb2
from google.protobuf import field_mask_pb2

from tests.fixtures.db import InProcessService, expect_error, in_process_service, service_settings
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD
from tests.servers.helpers import sim_server

F = servers_pb2


def unsaved(
    host: str, password: str = SIM_PASSWORD, *, protocol: int = F.PROTOCOL_HTTP
) -> F.TestConnectionRequest:
    return F.TestConnectionRequest(
        connection=F.ServerConnection(
            protocol=protocol, host=host, admin_username=SIM_ADMIN, admin_password=password
        )
    )


def host_of(sim: CometSimulator) -> str:
    assert sim.base_url is not None
    return sim.base_url.removeprefix("http://")


@pytest.fixture
async def svc(sqlite_url: str, tmp_path: Path) -> AsyncIterator[InProcessService]:
    """These tests are about Comet, not the store: SQLite is enough."""
    async with in_process_service(service_settings(sqlite_url, tmp_path / "data")) as running:
        yield running


@contextlib.asynccontextmanager
async def tcp_server(reply: bytes | None) -> AsyncIterator[int]:
    """A loopback TCP server that answers every connection with `reply`, or never answers."""
    waiting: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if reply is None:
            waiting.append(writer)
            return
        await reader.read(65536)
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in waiting:
            writer.close()
        server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_saved_and_unsaved_servers_connect(svc: InProcessService, comet_sim: CometSimulator) -> None:
    result = await svc.servers.TestConnection(unsaved(host_of(comet_sim)))
    assert result.ok
    assert result.failure == F.CONNECTION_FAILURE_UNSPECIFIED
    assert result.comet_version == comet_sim.state.version.text
    assert result.version_codename == comet_sim.state.version.codename
    assert set(result.roles) == {"storage", "authentication"}
    assert result.round_trip_time.ToNanoseconds() > 0

    assert comet_sim.base_url is not None
    created = (
        await svc.servers.CreateServer(
            F.CreateServerRequest(server=sim_server(comet_sim.base_url, SIM_PASSWORD))
        )
    ).server
    saved = await svc.servers.TestConnection(F.TestConnectionRequest(server_id=created.id))
    assert saved.ok
    assert saved.comet_version == result.comet_version
    await expect_error(
        svc.servers.TestConnection(F.TestConnectionRequest(server_id="f" * 32)), grpc.StatusCode.NOT_FOUND
    )
    err = await expect_error(
        svc.servers.TestConnection(F.TestConnectionRequest()), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert err.reason == "INVALID_REQUEST"
    bad = await expect_error(
        svc.servers.TestConnection(unsaved("not a host", "")), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert set(bad.violations) == {"connection.host", "connection.admin_password"}


async def test_bad_credentials(svc: InProcessService, comet_sim: CometSimulator) -> None:
    result = await svc.servers.TestConnection(unsaved(host_of(comet_sim), "wrong-password"))
    assert not result.ok
    assert result.failure == F.CONNECTION_FAILURE_BAD_CREDENTIALS
    assert "wrong-password" not in result.message


async def test_second_factor_required(svc: InProcessService) -> None:
    async with CometSimulator(admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD, totp_required=True) as sim:
        result = await svc.servers.TestConnection(unsaved(host_of(sim)))
    assert not result.ok
    assert result.failure == F.CONNECTION_FAILURE_SECOND_FACTOR_REQUIRED


async def test_locked_out(svc: InProcessService, comet_sim: CometSimulator) -> None:
    comet_sim.faults.set_lockout(1, cooldown_s=60)
    first = await svc.servers.TestConnection(unsaved(host_of(comet_sim), "wrong-password"))
    assert first.failure == F.CONNECTION_FAILURE_BAD_CREDENTIALS
    locked = await svc.servers.TestConnection(unsaved(host_of(comet_sim)))
    assert not locked.ok
    assert locked.failure == F.CONNECTION_FAILURE_LOCKED_OUT


async def test_nothing_listening(svc: InProcessService) -> None:
    result = await svc.servers.TestConnection(unsaved(f"127.0.0.1:{closed_port()}"))
    assert not result.ok
    assert result.failure == F.CONNECTION_FAILURE_UNREACHABLE


async def test_not_a_comet_server(svc: InProcessService) -> None:
    page = b"<html><body>It works!</body></html>"
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
        % (
            len(page),
            page,
        )
    )
    async with tcp_server(reply) as port:
        result = await svc.servers.TestConnection(unsaved(f"127.0.0.1:{port}"))
    assert not result.ok
    assert result.failure == F.CONNECTION_FAILURE_NOT_COMET


async def test_timeout_from_a_hanging_server(svc: InProcessService, comet_sim: CometSimulator) -> None:
    comet_sim.faults.rules.append(FaultRule(endpoint="meta/version", kind="hang", hang_s=30))
    result = await svc.servers.TestConnection(unsaved(host_of(comet_sim)), timeout=2.0)
    assert not result.ok
    assert result.failure == F.CONNECTION_FAILURE_TIMEOUT


async def test_timeout_from_a_silent_socket(svc: InProcessService) -> None:
    async with tcp_server(None) as port:
        result = await svc.servers.TestConnection(unsaved(f"127.0.0.1:{port}"), timeout=2.0)
    assert result.failure == F.CONNECTION_FAILURE_TIMEOUT


async def test_tls_to_a_plain_http_port(svc: InProcessService, comet_sim: CometSimulator) -> None:
    result = await svc.servers.TestConnection(unsaved(host_of(comet_sim), protocol=F.PROTOCOL_HTTPS))
    assert not result.ok
    assert result.failure == F.CONNECTION_FAILURE_TLS


async def test_policy_groups_storage_providers_and_admin_session(
    svc: InProcessService, comet_sim: CometSimulator
) -> None:
    comet_sim.state.seed_policy("policy-gold", description="Gold")
    comet_sim.state.seed_policy("policy-basic", description="Basic")
    comet_sim.state.seed_provider("provider-b2", "B2 storage")
    assert comet_sim.base_url is not None
    created = (
        await svc.servers.CreateServer(
            F.CreateServerRequest(server=sim_server(comet_sim.base_url, SIM_PASSWORD))
        )
    ).server

    policies = (
        await svc.servers.ListPolicyGroups(F.ListPolicyGroupsRequest(server_id=created.id))
    ).policy_groups
    assert [(p.policy_id, p.description) for p in policies] == [
        ("policy-basic", "Basic"),
        ("policy-gold", "Gold"),
    ]
    providers = (
        await svc.servers.ListStorageProviders(F.ListStorageProvidersRequest(server_id=created.id))
    ).storage_providers
    assert ("provider-b2", "B2 storage") in [(p.provider_id, p.description) for p in providers]
    assert {p.provider_id for p in providers} == set(comet_sim.state.providers)

    session = await svc.servers.CreateAdminSession(F.CreateAdminSessionRequest(server_id=created.id))
    assert session.session_key in comet_sim.state.sessions
    assert session.session_type == "admin"
    assert session.server_url == comet_sim.base_url

    await expect_error(
        svc.servers.ListPolicyGroups(F.ListPolicyGroupsRequest(server_id="e" * 32)),
        grpc.StatusCode.NOT_FOUND,
        "SERVER_NOT_FOUND",
    )
    await expect_error(
        svc.servers.ListPolicyGroups(F.ListPolicyGroupsRequest()), grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_comet_failures_map_to_status_codes_and_a_password_change_replaces_the_pool(
    svc: InProcessService, comet_sim: CometSimulator
) -> None:
    assert comet_sim.base_url is not None
    created = (
        await svc.servers.CreateServer(
            F.CreateServerRequest(server=sim_server(comet_sim.base_url, "wrong-password"), allow_offline=True)
        )
    ).server
    err = await expect_error(
        svc.servers.ListPolicyGroups(F.ListPolicyGroupsRequest(server_id=created.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "COMET_AUTH_FAILED",
    )
    assert err.metadata["server_id"] == created.id
    await svc.servers.UpdateServer(
        F.UpdateServerRequest(
            server=F.Server(id=created.id, connection=F.ServerConnection(admin_password=SIM_PASSWORD)),
            update_mask=field_mask_pb2.FieldMask(paths=["connection.admin_password"]),
        )
    )
    assert (
        await svc.servers.ListStorageProviders(F.ListStorageProvidersRequest(server_id=created.id))
    ).storage_providers
    await comet_sim.stop()
    await expect_error(
        svc.servers.ListStorageProviders(F.ListStorageProvidersRequest(server_id=created.id), timeout=20),
        grpc.StatusCode.UNAVAILABLE,
    )
