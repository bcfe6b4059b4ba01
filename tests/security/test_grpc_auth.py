"""Authentication and roles through the real server and the generated stubs."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from comet_provisioning.api.auth import METHOD_ROLES, Role
from comet_provisioning_client.v1 import accounts_pb2, servers_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.fixtures.logs import log_capture
from tests.security.conftest import TOKENS, Stubs, bearer, make_settings, started, tokens_json
from tests.security.support import all_methods, code_of, error_info, path

REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


async def test_no_credentials_is_unauthenticated_with_reason(service: Stubs) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.servers.ListServers(servers_pb2.ListServersRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    info = error_info(caught.value)
    assert info.reason == "MISSING_CREDENTIALS"
    assert info.domain == "comet.provisioning.v1"
    assert info.metadata["method"] == "/comet.provisioning.v1.ServerService/ListServers"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer not-a-configured-token",
        f"Basic {TOKENS['admin']}",
        "Bearer",
        f"Bearer {TOKENS['admin']}x",
    ],
    ids=["unknown", "basic-scheme", "no-token", "token-with-a-suffix"],  # the tokens are random
)
async def test_unknown_or_malformed_token_is_unauthenticated_and_not_echoed(
    service: Stubs, header: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.accounts.ListAccounts(
            accounts_pb2.ListAccountsRequest(), metadata=(("authorization", header),)
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_info(caught.value).reason == "INVALID_TOKEN"
    token_part = header.partition(" ")[2]
    assert not token_part or token_part not in (caught.value.details() or "")
    assert not token_part or token_part not in str(error_info(caught.value))


async def test_viewer_calling_a_write_is_permission_denied(service: Stubs) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.servers.CreateServer(servers_pb2.CreateServerRequest(), metadata=bearer("viewer"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_info(caught.value)
    assert info.reason == "ROLE_REQUIRED"
    assert info.metadata["role"] == "admin"
    assert info.metadata["caller_role"] == "viewer"
    assert info.metadata["method"] == "/comet.provisioning.v1.ServerService/CreateServer"


async def test_viewer_reads_and_the_bearer_scheme_is_case_insensitive(service: Stubs) -> None:
    reply = await service.servers.ListServers(
        servers_pb2.ListServersRequest(), metadata=(("authorization", f"bearer {TOKENS['viewer']}"),)
    )
    assert list(reply.servers) == []


async def test_provisioner_is_allowed_on_account_methods_but_not_on_servers(service: Stubs) -> None:
    for name in ("CreateAccount", "SuspendAccount", "ChangePassword", "CreateLoginSession", "DownloadClient"):
        method = next(m for m in all_methods() if m.name == name)
        assert await code_of(service.accounts, method, bearer("provisioner")) not in REFUSED, name
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.accounts.ImportAccounts(
            accounts_pb2.ImportAccountsRequest(), metadata=bearer("provisioner")
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("role", ["viewer", "provisioner", "admin"])
async def test_every_method_admits_exactly_the_roles_its_map_entry_covers(service: Stubs, role: str) -> None:
    """Empty requests: an admitted call fails validation (or succeeds) but is never refused by auth."""
    wrong: list[str] = []
    for method in all_methods():
        allowed = Role.parse(role) >= METHOD_ROLES[path(method)]
        code = await code_of(service.stub_for(method.containing_service.full_name), method, bearer(role))
        if allowed and code in REFUSED:
            wrong.append(f"{method.name}: refused with {code.name}")
        if not allowed and code != grpc.StatusCode.PERMISSION_DENIED:
            wrong.append(f"{method.name}: expected PERMISSION_DENIED, got {code.name}")
    assert not wrong, wrong


async def test_health_is_open_without_credentials(service: Stubs) -> None:
    health = health_pb2_grpc.HealthStub(service.channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service="comet.provisioning.v1.AccountService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def _list_services(channel: grpc.aio.Channel, metadata: object = None) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), metadata=metadata
    )
    names: list[str] = []
    async for reply in call:
        names += [s.name for s in reply.list_services_response.service]
    return names


async def test_reflection_is_open_by_default(service: Stubs) -> None:
    assert "comet.provisioning.v1.AccountService" in await _list_services(service.channel)


async def test_reflection_needs_credentials_when_not_public(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, env={"COMET_PROVISIONING_TOKENS": tokens_json()}, reflection_public=False
    )
    async with started(settings) as stubs:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _list_services(stubs.channel)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "comet.provisioning.v1.ServerService" in await _list_services(stubs.channel, bearer("viewer"))


async def test_auth_is_off_on_loopback_without_tokens(tmp_path: Path) -> None:
    async with started(make_settings(tmp_path)) as stubs:
        reply = await stubs.servers.ListServers(servers_pb2.ListServersRequest())
        assert list(reply.servers) == []


async def test_the_caller_name_is_in_the_log_context_and_the_token_is_not(service: Stubs) -> None:
    with log_capture(logger="comet_provisioning") as stream:
        await service.servers.ListServers(servers_pb2.ListServersRequest(), metadata=bearer("provisioner"))
        with pytest.raises(grpc.aio.AioRpcError):
            await service.servers.CreateServer(servers_pb2.CreateServerRequest(), metadata=bearer("viewer"))
        with pytest.raises(grpc.aio.AioRpcError):
            await service.servers.ListServers(
                servers_pb2.ListServersRequest(), metadata=(("authorization", "Bearer wrong-secret-123"),)
            )
    text = stream.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    finished = [line for line in lines if line["message"] == "rpc finished"]
    assert any(line.get("caller") == "provisioner-caller" for line in finished), finished
    refused = [line for line in lines if line["message"] == "call refused"]
    assert {line["reason"] for line in refused} >= {"ROLE_REQUIRED", "INVALID_TOKEN"}
    for secret in (*TOKENS.values(), "wrong-secret-123"):
        assert secret not in text
