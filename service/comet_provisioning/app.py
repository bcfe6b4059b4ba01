"""Runs the service: resources up, gRPC server up, wait for a signal, drain, resources down."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from comet_provisioning.api.server import GrpcServer, Servicers, build_server
from comet_provisioning.api.servicers import PendingAccountService, PendingCatalogService, PendingServerService
from comet_provisioning.config import Settings

log = logging.getLogger("comet_provisioning")


@contextlib.asynccontextmanager
async def running_service(settings: Settings, *, demo: bool = False) -> AsyncIterator[GrpcServer]:
    """The whole service, started; stopped (drained) when the block exits."""
    servicers = Servicers(
        servers=PendingServerService(), catalog=PendingCatalogService(), accounts=PendingAccountService()
    )
    grpc_server = build_server(
        servicers,
        settings.listen,
        max_in_flight=settings.max_concurrent_rpcs,
        reflection_on=settings.reflection,
    )
    await grpc_server.server.start()
    await grpc_server.set_serving()
    try:
        yield grpc_server
    finally:
        finished = await grpc_server.drain_and_stop(settings.shutdown_grace_s)
        if not finished:
            log.warning("calls still running after the grace period were cancelled")


async def serve(settings: Settings, *, demo: bool = False) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_service(settings, demo=demo) as grpc_server:
        host = settings.listen.rsplit(":", 1)[0]
        log.info("serving", extra={"listen": f"{host}:{grpc_server.port}", "demo": demo})
        await stop.wait()
        log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
    log.info("stopped")
    return 0
