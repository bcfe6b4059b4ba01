"""Builds the grpc.aio server: the three services, health checking, reflection, interceptors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from comet_provisioning_client.v1 import accounts_pb2_grpc, catalog_pb2_grpc, servers_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from comet_provisioning.api.auth import SERVICE_DESCRIPTORS
from comet_provisioning.api.gate import AdmissionGate
from comet_provisioning.api.handlers import Interceptor
from comet_provisioning.api.interceptors import CallContextInterceptor
from comet_provisioning.api.reflection import register_reflection
from comet_provisioning.api.streams import StreamDriver

if TYPE_CHECKING:
    from comet_provisioning.api.tls import Exposure
    from comet_provisioning.metrics import ServiceMetrics

_MAX_MESSAGE_BYTES = 8 * 1024 * 1024
SERVICE_NAMES = tuple(service.full_name for service in SERVICE_DESCRIPTORS)


@dataclass
class Servicers:
    servers: servers_pb2_grpc.ServerServiceServicer
    catalog: catalog_pb2_grpc.CatalogServiceServicer
    accounts: accounts_pb2_grpc.AccountServiceServicer


@dataclass
class GrpcServer:
    server: grpc.aio.Server
    health: Any  # grpc_health.v1.health.aio.HealthServicer (untyped)
    gate: AdmissionGate
    port: int
    # Set by app.running_service: how the listener is exposed, the metrics and their HTTP port.
    exposure: Exposure | None = None
    metrics: ServiceMetrics | None = None
    metrics_port: int | None = None

    async def set_serving(self) -> None:
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def drain_and_stop(self, grace_s: float) -> bool:
        """NOT_SERVING, refuse new calls, let running ones finish; True if all finished in time."""
        await self.health.enter_graceful_shutdown()
        self.gate.start_draining()
        finished = await self.gate.wait_idle(grace_s)
        await self.server.stop(0 if finished else 1.0)
        return finished


async def build_server(
    servicers: Servicers,
    listen: str,
    *,
    max_in_flight: int,
    reflection_on: bool,
    credentials: grpc.ServerCredentials | None = None,
    extra_interceptors: Sequence[Interceptor] = (),
) -> GrpcServer:
    gate = AdmissionGate(max_in_flight)
    server = grpc.aio.server(
        # Outermost first: each decides from the method name alone (see handlers.Layer).
        interceptors=[StreamDriver(), *extra_interceptors, gate, CallContextInterceptor()],
        options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    servers_pb2_grpc.add_ServerServiceServicer_to_server(servicers.servers, server)
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicers.catalog, server)
    accounts_pb2_grpc.add_AccountServiceServicer_to_server(servicers.accounts, server)
    health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if reflection_on:
        register_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name), server
        )
    port = (
        server.add_secure_port(listen, credentials)
        if credentials is not None
        else server.add_insecure_port(listen)
    )
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    return GrpcServer(server=server, health=health_servicer, gate=gate, port=port)
