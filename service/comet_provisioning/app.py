"""Runs the service: resources up, gRPC server up, wait for a signal, drain, resources down."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from comet_provisioning.api.accounts import AccountServicer
from comet_provisioning.api.catalog import CatalogServicer
from comet_provisioning.api.server import GrpcServer, Servicers, build_server
from comet_provisioning.api.servers import ServerServicer
from comet_provisioning.comet.registry import CometClientRegistry
from comet_provisioning.config import ConfigError, Settings
from comet_provisioning.core.accounts.manager import AccountManager
from comet_provisioning.core.products import ProductManager
from comet_provisioning.core.servers import ServerManager
from comet_provisioning.store import (
    Database,
    SecretBox,
    SecretKeyError,
    current_revision,
    head_revision,
    idempotency,
    load_key,
    open_database,
    upgrade,
)

log = logging.getLogger("comet_provisioning")

# Idempotency keys older than this are forgotten at start-up (AIP-155 asks for "a while").
IDEMPOTENCY_RETENTION = dt.timedelta(days=30)


@dataclass
class Resources:
    """What the servicers share: the store, the secret box, the Comet clients, the managers."""

    settings: Settings
    db: Database
    box: SecretBox
    registry: CometClientRegistry
    servers: ServerManager
    products: ProductManager
    accounts: AccountManager


def secret_box(settings: Settings, *, demo: bool = False) -> SecretBox:
    """The key that encrypts admin passwords; refuses (ConfigError) without one, except in demo."""
    try:
        return SecretBox(
            load_key(
                settings.secret_key, settings.secret_key_file, demo_dir=settings.data_dir if demo else None
            )
        )
    except SecretKeyError as exc:
        raise ConfigError(str(exc)) from exc


async def prepare_database(db: Database, settings: Settings) -> None:
    """Migrate when configured to; otherwise refuse to run on a schema that is not current."""
    if settings.migrate_on_start:
        revision = await upgrade(db)
        log.info("database schema ready", extra={"revision": revision})
        return
    current, head = await current_revision(db), head_revision()
    if current != head:
        raise ConfigError(
            f"the database schema is at {current or 'nothing'}, this version needs {head}: "
            "run `comet-provisioning migrate` (or set migrate_on_start)"
        )


@contextlib.asynccontextmanager
async def open_resources(settings: Settings, *, demo: bool = False) -> AsyncIterator[Resources]:
    """Key, database (migrated), Comet client registry and managers; closed when the block exits."""
    box = secret_box(settings, demo=demo)
    db = open_database(settings.effective_database_url)
    registry = CometClientRegistry()
    try:
        await prepare_database(db, settings)
        await idempotency.prune(db, IDEMPOTENCY_RETENTION)
        servers = ServerManager(db, box, registry, ca_dir=Path(settings.data_dir) / "ca")
        products = ProductManager()
        accounts = AccountManager(db, box, servers, products)
        yield Resources(settings, db, box, registry, servers, products, accounts)
    finally:
        await registry.aclose()
        await db.close()


@contextlib.asynccontextmanager
async def running_service(settings: Settings, *, demo: bool = False) -> AsyncIterator[GrpcServer]:
    """The whole service, started; stopped (drained) when the block exits."""
    async with open_resources(settings, demo=demo) as resources:
        servicers = Servicers(
            servers=ServerServicer(resources.servers, resources.box),
            catalog=CatalogServicer(resources.products, resources.db, resources.box),
            accounts=AccountServicer(resources.accounts),
        )
        grpc_server = build_server(
            servicers,
            settings.listen,
            max_in_flight=settings.max_concurrent_rpcs,
            reflection_on=settings.reflection,
        )
        await grpc_server.server.start()
        await grpc_server.set_serving()
        sweep = asyncio.create_task(resources.accounts.resume_unfinished(), name="resume-unfinished")
        try:
            yield grpc_server
        finally:
            sweep.cancel()
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
