"""The service in-process with authentication on: tokens for each role, generated stubs."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from comet_provisioning.api.auth import hash_token
from comet_provisioning.api.server import GrpcServer
from comet_provisioning.app import running_service
from comet_provisioning.config import Settings, load
from comet_provisioning_client.v1 import accounts_pb2_grpc, catalog_pb2_grpc, servers_pb2_grpc

from tests.fixtures.service import new_secret_key

TOKENS = {role: f"{role}-{secrets.token_urlsafe(24)}" for role in ("admin", "provisioner", "viewer")}


def tokens_json(tokens: dict[str, str] = TOKENS) -> str:
    return json.dumps(
        [
            {"name": f"{role}-caller", "hash": hash_token(token), "role": role}
            for role, token in tokens.items()
        ]
    )


def make_settings(data_dir: Path, *, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    base_env = {
        "COMET_PROVISIONING_DATA_DIR": str(data_dir),
        "COMET_PROVISIONING_SECRET_KEY": new_secret_key(),
        "COMET_PROVISIONING_USAGE_SYNC_INTERVAL_S": "0",
        "COMET_PROVISIONING_SHUTDOWN_GRACE_S": "2",
    }
    return load(env={**base_env, **(env or {})}, overrides={"listen": "127.0.0.1:0", **overrides})


def bearer(role: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {TOKENS[role]}"),)


@dataclass
class Stubs:
    server: GrpcServer
    channel: grpc.aio.Channel
    servers: servers_pb2_grpc.ServerServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    accounts: accounts_pb2_grpc.AccountServiceStub

    def stub_for(self, service: str) -> Any:
        return {
            "comet.provisioning.v1.ServerService": self.servers,
            "comet.provisioning.v1.CatalogService": self.catalog,
            "comet.provisioning.v1.AccountService": self.accounts,
        }[service]


@contextlib.asynccontextmanager
async def started(
    settings: Settings, channel_factory: Any = None, target_host: str = "127.0.0.1"
) -> AsyncIterator[Stubs]:
    async with running_service(settings) as server:
        target = f"{target_host}:{server.port}"
        channel = channel_factory(target) if channel_factory else grpc.aio.insecure_channel(target)
        async with channel:
            yield Stubs(
                server,
                channel,
                servers_pb2_grpc.ServerServiceStub(channel),
                catalog_pb2_grpc.CatalogServiceStub(channel),
                accounts_pb2_grpc.AccountServiceStub(channel),
            )


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Stubs]:
    """Tokens for admin, provisioner and viewer; metrics on a free loopback port."""
    settings = make_settings(
        tmp_path, env={"COMET_PROVISIONING_TOKENS": tokens_json()}, metrics_listen="127.0.0.1:0"
    )
    async with started(settings) as stubs:
        yield stubs
