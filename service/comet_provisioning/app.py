"""Runs the service: resources up, gRPC server up, wait for a signal, drain, resources down."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from comet_provisioning.api.accounts import AccountServicer
from comet_provisioning.api.auth import SERVICE_DESCRIPTORS, Authenticator, AuthInterceptor
from comet_provisioning.api.catalog import CatalogServicer
from comet_provisioning.api.metrics import GrpcServerMetrics, MetricsInterceptor
from comet_provisioning.api.server import GrpcServer, Servicers, build_server
from comet_provisioning.api.servers import ServerServicer
from comet_provisioning.api.tls import Exposure, plan_exposure
from comet_provisioning.comet.observe import CallObserver
from comet_provisioning.comet.registry import CometClientRegistry
from comet_provisioning.config import ConfigError, Settings
from comet_provisioning.core.accounts.importer import AccountImporter
from comet_provisioning.core.accounts.leases import HeldAccount
from comet_provisioning.core.accounts.retention import prune_events_forever
from comet_provisioning.core.accounts.retry_schedule import RetrySchedule
from comet_provisioning.core.accounts.service import Accounts
from comet_provisioning.core.accounts.usage_sync import UsageSync
from comet_provisioning.core.comet_clients import ServerClients
from comet_provisioning.core.limits import ServerCallLimiter
from comet_provisioning.core.mutations import Mutations
from comet_provisioning.core.products import ProductManager
from comet_provisioning.core.request_ids import RequestIds
from comet_provisioning.core.server_health import HealthBoard, ObserverFanOut
from comet_provisioning.core.servers import ServerManager
from comet_provisioning.crypto import SecretBox
from comet_provisioning.demo import demo_environment
from comet_provisioning.event_loop import running_loop_name
from comet_provisioning.exits import ExitCode
from comet_provisioning.health_metrics import ServerHealthCollector
from comet_provisioning.metrics import ServiceMetrics
from comet_provisioning.ops_http import OpsListener
from comet_provisioning.probes import Readiness
from comet_provisioning.startup import (
    check_store,
    listen_failure,
    open_checked_database,
    prepare_database,
    secret_box,
)
from comet_provisioning.store import Database, current_revision, head_revision
from comet_provisioning.store.unit_of_work import SqlStore

log = logging.getLogger("comet_provisioning")

# Request ids older than this are forgotten (AIP-155 asks for "a while").
IDEMPOTENCY_RETENTION = dt.timedelta(days=30)
REQUEST_ID_PRUNE_INTERVAL_S = 3600.0


@dataclass
class Resources:
    """What the servicers share: the store, the secret box, the Comet clients, the managers."""

    settings: Settings
    db: Database
    store: SqlStore
    box: SecretBox
    registry: CometClientRegistry
    servers: ServerManager
    products: ProductManager
    accounts: Accounts
    usage: UsageSync
    importer: AccountImporter


@contextlib.asynccontextmanager
async def open_resources(
    settings: Settings, *, demo: bool = False, observer: CallObserver | None = None
) -> AsyncIterator[Resources]:
    """Key, database (migrated, checked against the key), Comet client registry and managers; closed
    when the block exits. The demo runs on its own data directory (Settings.for_demo)."""
    if demo:
        settings = settings.for_demo()
    box = secret_box(settings, demo=demo)
    try:
        health = HealthBoard(
            failure_threshold=settings.server_down_after_failures, cooldown_s=settings.server_retry_after_s
        )
    except ValueError as exc:
        raise ConfigError(f"server health settings: {exc}") from exc
    db = open_checked_database(settings)
    store = SqlStore(db)
    request_ids = RequestIds(store, box, retention=IDEMPOTENCY_RETENTION)
    mutations = Mutations(request_ids)
    # Every Comet call also feeds its server's circuit breaker; a learned release is stored.
    registry = CometClientRegistry(
        observer=ObserverFanOut([observer, health]),
        on_server_info=lambda server_id, info: servers.clients.remember_version(server_id, info),
    )
    servers = ServerManager(
        store, box, registry, mutations, ca_dir=Path(settings.data_dir) / "ca", health=health
    )
    try:
        await prepare_database(db, settings)
        await check_store(db, box, demo=demo)  # before anything is sealed under these keys
        products = ProductManager(store, mutations, servers.clients)
        accounts = Accounts(
            store,
            box,
            servers.clients,
            products,
            request_ids,
            replica_id=settings.effective_replica_id,
            lease_ttl=dt.timedelta(seconds=settings.account_lease_s),
            retry_schedule=RetrySchedule(
                first_delay=dt.timedelta(seconds=settings.provision_retry_delay_s),
                window=dt.timedelta(seconds=settings.provision_retry_window_s),
            ),
            password_retention=dt.timedelta(seconds=settings.generated_password_retention_s),
        )
        await accounts.guard.take_back_own()
        usage = usage_sync(store, servers.clients, accounts, settings)
        importer = AccountImporter(store, servers, products)
        async with contextlib.AsyncExitStack() as demo_stack:
            if demo:
                await demo_stack.enter_async_context(demo_environment(servers, products, settings.data_dir))
            yield Resources(settings, db, store, box, registry, servers, products, accounts, usage, importer)
    finally:
        await servers.aclose()
        await registry.aclose()
        await db.close()


def usage_sync(store: SqlStore, clients: ServerClients, accounts: Accounts, settings: Settings) -> UsageSync:
    """The usage sync; drift repairs run alone on their account and re-apply quotas and policy."""

    async def alone(account_id: str, work: Callable[[HeldAccount], Awaitable[bytes]]) -> bytes:
        return await accounts.exclusive.run(account_id, "", "", "", work)

    return UsageSync(
        store,
        clients,
        accounts.products,
        alone,
        repair_drift=settings.repair_drift,
        repair_quotas=accounts.provisioner.apply_quotas,
    )


@contextlib.asynccontextmanager
async def running_service(settings: Settings, *, demo: bool = False) -> AsyncIterator[GrpcServer]:
    """The whole service, started; stopped (drained) when the block exits."""
    exposure = plan_exposure(settings, demo=demo)  # refuses unsafe TLS/auth setups before anything opens
    for warning in exposure.warnings:
        log.warning(warning)
    metrics = ServiceMetrics()
    grpc_metrics = GrpcServerMetrics(metrics.registry)
    grpc_metrics.initialize(SERVICE_DESCRIPTORS)
    interceptors = [
        MetricsInterceptor(grpc_metrics),  # first: counts refusals by auth and the gate too
        AuthInterceptor(Authenticator.from_settings(settings), reflection_public=settings.reflection_public),
    ]
    async with open_resources(settings, demo=demo, observer=metrics.comet) as resources:
        # Bounds the RPCs queued for one Comet server to its pool size plus max_waiting_per_server.
        limiter = ServerCallLimiter(
            settings.max_waiting_per_server, capacity=resources.servers.clients.capacity
        )
        metrics.watch_limiter(limiter)
        metrics.registry.register(ServerHealthCollector(resources.servers.health.snapshot))
        resources.accounts.exclusive.limiter = limiter
        servicers = Servicers(
            servers=ServerServicer(resources.servers),
            catalog=CatalogServicer(resources.products),
            accounts=AccountServicer(
                resources.accounts,
                clients=resources.servers.clients,
                usage=resources.usage,
                importer=resources.importer,
            ),
        )
        try:
            grpc_server = await build_server(
                servicers,
                settings.listen,
                max_in_flight=settings.max_concurrent_rpcs,
                reflection_on=settings.reflection,
                credentials=exposure.credentials,
                extra_interceptors=interceptors,
            )
        except (RuntimeError, OSError) as exc:  # grpc: "Failed to bind to address"
            raise listen_failure("listen", settings.listen, exc, ExitCode.LISTEN_UNAVAILABLE) from None
        grpc_server.exposure, grpc_server.metrics = exposure, metrics
        readiness = Readiness(
            asyncio.get_running_loop(), lambda: current_revision(resources.db), head_revision()
        )
        ops_listener = _start_ops_listener(settings, metrics, readiness)
        if ops_listener is not None:
            grpc_server.metrics_port = ops_listener.port
        try:
            await grpc_server.server.start()
        except BaseException:
            if ops_listener is not None:
                ops_listener.stop()
            raise
        await grpc_server.set_serving()
        readiness.serving = True
        sweep = asyncio.create_task(
            resources.accounts.sweeper.run_forever(settings.resume_interval_s), name="resume-unfinished"
        )
        background = [
            sweep,
            # Request ids past their retention are forgotten by every replica, not only at start-up.
            asyncio.create_task(
                resources.accounts.request_ids.prune_forever(REQUEST_ID_PRUNE_INTERVAL_S),
                name="request-id-retention",
            ),
        ]
        for server_id, when in (await resources.usage.last_sync_times()).items():
            metrics.record_usage_sync(server_id, when)  # the age survives a restart
        resources.usage.observers.append(metrics.record_usage_sync)
        if settings.usage_sync_interval_s > 0:
            background.append(
                asyncio.create_task(
                    resources.usage.run_forever(settings.usage_sync_interval_s), name="usage-sync"
                )
            )
        background.append(
            asyncio.create_task(
                prune_events_forever(resources.store, settings.event_retention), name="event-retention"
            )
        )
        background.append(
            metrics.watch_accounts(
                resources.accounts.queries.count_by_status,
                settings.metrics_refresh_s,
                count_by_limits=resources.accounts.queries.count_by_limits,
            )
        )
        try:
            yield grpc_server
        finally:
            readiness.serving = False
            for task in background:
                task.cancel()
            # wait for them: a task cut off mid-query must release its connection before the
            # database closes, or the pool's close tasks outlive the event loop
            await asyncio.gather(*background, return_exceptions=True)
            finished = await grpc_server.drain_and_stop(settings.shutdown_grace_s)
            if not finished:
                log.warning("calls still running after the grace period were cancelled")
            if ops_listener is not None:
                ops_listener.stop()


def _start_ops_listener(
    settings: Settings, metrics: ServiceMetrics, readiness: Readiness
) -> OpsListener | None:
    """/metrics, /healthz and /readyz on `metrics_listen` (none when it is empty)."""
    if not settings.metrics_listen:
        return None
    try:
        listener = OpsListener(
            metrics.registry, settings.metrics_listen, live=readiness.live, ready=readiness.ready
        )
        listener.start()
    except (OSError, ValueError) as exc:
        raise listen_failure(
            "metrics_listen", settings.metrics_listen, exc, ExitCode.METRICS_LISTEN_UNAVAILABLE
        ) from None
    log.info("metrics and probes", extra={"listen": f"{listener.host}:{listener.port}"})
    return listener


def _announce_demo(address: str, exposure: Exposure) -> None:
    """--demo: say loudly how the listener is exposed and how to call it."""
    if address.startswith(("0.0.0.0:", "[::]:")):
        address = "127.0.0.1:" + address.rsplit(":", 1)[1]
    flags = "-plaintext" if exposure.plaintext else "-insecure"
    if exposure.auth_enabled:
        flags += " -H 'authorization: Bearer $TOKEN'"
    if exposure.plaintext:
        log.warning("DEMO: gRPC is PLAINTEXT (no TLS); do not expose this listener")
    command = f"grpcurl {flags} {address} list"
    log.warning("DEMO: call it with: %s", command)
    print(f"demo: {command}", flush=True)


async def serve(settings: Settings, *, demo: bool = False) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_service(settings, demo=demo) as grpc_server:
        host = settings.listen.rsplit(":", 1)[0]
        log.info(
            "serving",
            extra={"listen": f"{host}:{grpc_server.port}", "demo": demo, "event_loop": running_loop_name()},
        )
        if demo and grpc_server.exposure is not None:
            _announce_demo(f"{host}:{grpc_server.port}", grpc_server.exposure)
        await stop.wait()
        log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
    log.info("stopped")
    return 0
