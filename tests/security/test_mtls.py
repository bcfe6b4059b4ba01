"""TLS on the gRPC listener and client certificates (mTLS) mapped to roles, with a PKI made now."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from comet_provisioning.config import Settings
from comet_provisioning_client.v1 import accounts_pb2, servers_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.fixtures.pki import Issued, TestCA
from tests.security.conftest import bearer, make_settings, started, tokens_json
from tests.security.support import error_info


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Any]:
    directory = tmp_path / "pki"
    directory.mkdir()
    ca = TestCA(directory)
    other = TestCA(directory, "Other CA")
    return {
        "ca": ca,
        "server": ca.issue("comet-provisioning.test", server=True),
        "billing": ca.issue("billing.internal"),  # provisioner by CN
        "ops": ca.issue("ops-workstation", dns=("ops.internal",)),  # admin by DNS SAN
        "stranger": ca.issue("stranger.internal"),  # no role
        "forged": other.issue("billing.internal"),  # right name, wrong CA
    }


def mtls_settings(tmp_path: Path, pki: dict[str, Any], *, client_ca: bool = True) -> Settings:
    server: Issued = pki["server"]
    env = {
        "COMET_PROVISIONING_TOKENS": tokens_json(),
        "COMET_PROVISIONING_CLIENT_CERTS": json.dumps(
            [
                {"name": "billing.internal", "role": "provisioner"},
                {"name": "ops.internal", "role": "admin"},
            ]
        )
        if client_ca
        else "[]",
    }
    return make_settings(
        tmp_path,
        env=env,
        tls_cert_file=str(server.cert_file),
        tls_key_file=str(server.key_file),
        tls_client_ca_file=str(pki["ca"].cert_file) if client_ca else "",
    )


def channel_with(pki: dict[str, Any], client: str | None) -> Callable[[str], grpc.aio.Channel]:
    def make(target: str) -> grpc.aio.Channel:
        issued: Issued | None = pki[client] if client else None
        credentials = grpc.ssl_channel_credentials(
            root_certificates=pki["ca"].cert_pem,
            private_key=issued.key_pem if issued else None,
            certificate_chain=issued.cert_pem if issued else None,
        )
        return grpc.aio.secure_channel(target, credentials)

    return make


async def test_client_certificate_cn_gives_its_role(tmp_path: Path, pki: dict[str, Any]) -> None:
    async with started(mtls_settings(tmp_path, pki), channel_with(pki, "billing")) as stubs:
        reply = await stubs.accounts.ListAccounts(accounts_pb2.ListAccountsRequest())
        assert list(reply.accounts) == []
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.accounts.CreateAccount(accounts_pb2.CreateAccountRequest())
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # admitted, then validated
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.servers.CreateServer(servers_pb2.CreateServerRequest())
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_info(caught.value).metadata["caller_role"] == "provisioner"


async def test_client_certificate_san_gives_its_role(tmp_path: Path, pki: dict[str, Any]) -> None:
    async with started(mtls_settings(tmp_path, pki), channel_with(pki, "ops")) as stubs:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.servers.CreateServer(servers_pb2.CreateServerRequest())
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_bearer_token_decides_over_the_certificate(tmp_path: Path, pki: dict[str, Any]) -> None:
    async with started(mtls_settings(tmp_path, pki), channel_with(pki, "ops")) as stubs:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.servers.CreateServer(servers_pb2.CreateServerRequest(), metadata=bearer("viewer"))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.servers.ListServers(
                servers_pb2.ListServersRequest(), metadata=(("authorization", "Bearer nope"),)
            )
        assert error_info(caught.value).reason == "INVALID_TOKEN"


async def test_an_unmapped_certificate_is_unauthenticated(tmp_path: Path, pki: dict[str, Any]) -> None:
    async with started(mtls_settings(tmp_path, pki), channel_with(pki, "stranger")) as stubs:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.servers.ListServers(servers_pb2.ListServersRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error_info(caught.value).reason == "UNKNOWN_CLIENT_CERTIFICATE"
        # health stays open to any TLS client the CA admits
        health = health_pb2_grpc.HealthStub(stubs.channel)
        reply = await health.Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("client", [None, "forged"])
async def test_no_certificate_or_a_foreign_one_fails_the_handshake(
    tmp_path: Path, pki: dict[str, Any], client: str | None
) -> None:
    async with started(mtls_settings(tmp_path, pki), channel_with(pki, client)) as stubs:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.servers.ListServers(
                servers_pb2.ListServersRequest(), metadata=bearer("admin"), timeout=5
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_tls_without_client_ca_takes_tokens(tmp_path: Path, pki: dict[str, Any]) -> None:
    async with started(mtls_settings(tmp_path, pki, client_ca=False), channel_with(pki, None)) as stubs:
        assert stubs.server.exposure is not None
        assert not stubs.server.exposure.plaintext
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.servers.ListServers(servers_pb2.ListServersRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        await stubs.servers.ListServers(servers_pb2.ListServersRequest(), metadata=bearer("viewer"))


async def test_plaintext_client_cannot_talk_to_the_tls_listener(tmp_path: Path, pki: dict[str, Any]) -> None:
    async with started(mtls_settings(tmp_path, pki, client_ca=False)) as stubs:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stubs.servers.ListServers(
                servers_pb2.ListServersRequest(), metadata=bearer("viewer"), timeout=5
            )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
