"""The Comet clients of the stored servers: their settings (the admin password decrypted here, kept
in memory only), a short-lived cache for the hot path, what a server's pool admits, the releases the
clients learn, and the breaker's probe of a server believed down."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from comet_provisioning.comet.client import CometClient
from comet_provisioning.comet.config import CometServerConfig
from comet_provisioning.comet.errors import CometError
from comet_provisioning.comet.registry import CometClientRegistry
from comet_provisioning.comet.server_info import ServerInfo
from comet_provisioning.crypto import SecretBox

from .clock import utcnow
from .connection import DEFAULT_MAX_CONNECTIONS, base_url, write_ca_bundle
from .connection_test import ConnectionTest
from .models import Server
from .secrets import open_server_password
from .server_health import HealthBoard
from .unit_of_work import Store

__all__ = ["CLIENT_CACHE_S", "RPCS_PER_CONNECTION", "ServerClients"]

log = logging.getLogger("comet_provisioning.servers")

# How long the hot path may reuse a server's resolved client before reading the server again.
CLIENT_CACHE_S = 5.0
# RPCs admitted per pooled Comet connection (see ServerClients.capacity).
RPCS_PER_CONNECTION = 4
# A probe of a server believed down: one meta/version, retried only within this budget.
PROBE_TIMEOUT_S = 5.0


class ServerClients:
    def __init__(
        self,
        load: Callable[[str], Awaitable[Server]],
        store: Store,
        box: SecretBox,
        registry: CometClientRegistry,
        health: HealthBoard,
        *,
        ca_dir: Path,
        request_timeout_s: float = 30.0,
    ) -> None:
        """`load`: a stored server by id (NOT_FOUND when there is none). `health` is fed by the
        registry's clients when it is also their observer (see app.py)."""
        self._load = load
        self._store = store
        self.box = box
        self.registry = registry
        self.health = health
        self.ca_dir = ca_dir
        self.request_timeout_s = request_timeout_s
        self._cache: dict[str, tuple[float, CometClient]] = {}
        self._versions_seen: dict[str, str] = {}
        self._background: set[asyncio.Task[None]] = set()
        health.set_probe(self._probe)

    def comet_config(self, server: Server, **overrides: object) -> CometServerConfig:
        """The client settings of a server."""
        ca_file = write_ca_bundle(self.ca_dir, server.tls_ca_bundle_pem) if server.tls_ca_bundle_pem else None
        config = CometServerConfig(
            server_id=server.id or "unsaved",
            base_url=base_url(server.protocol, server.host, server.port),
            username=server.admin_username,
            password=open_server_password(
                self.box, server.admin_password_enc, server_id=server.id, display_name=server.display_name
            ),
            max_connections=server.max_connections or DEFAULT_MAX_CONNECTIONS,
            verify_tls=not server.tls_insecure_skip_verify,
            ca_file=ca_file,
            request_timeout_s=self.request_timeout_s,
        )
        return dataclasses.replace(config, **overrides) if overrides else config  # type: ignore[arg-type]

    async def client(self, server_id: str) -> CometClient:
        """The pooled client of a stored server (NOT_FOUND if there is no such server).

        Remembered for CLIENT_CACHE_S: the hot path then skips a read and a decryption per call.
        This process forgets it at once when it changes the server; another replica's change is
        picked up within CLIENT_CACHE_S.
        """
        cached = self._cache.get(server_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now and not cached[1].closed:
            return cached[1]
        client = await self.registry.get(self.comet_config(await self._load(server_id)))
        self._cache[server_id] = (now + CLIENT_CACHE_S, client)
        return client

    def cached(self, server_id: str) -> CometClient | None:
        """The server's client if this process holds a current one (no I/O), else None."""
        cached = self._cache.get(server_id)
        if cached is None or cached[0] <= time.monotonic() or cached[1].closed:
            return None
        return cached[1]

    def capacity(self, server_id: str) -> int:
        """How many RPCs may work on the server at once: RPCS_PER_CONNECTION per pooled connection,
        because an RPC holds a connection only during its Comet calls, not while it writes to the
        store or encodes its answer (the pool itself queues the calls for a connection)."""
        cached = self._cache.get(server_id)
        connections = cached[1].config.max_connections if cached is not None else DEFAULT_MAX_CONNECTIONS
        return connections * RPCS_PER_CONNECTION

    def server_down(self, server_id: str) -> bool:
        """Known unreachable: placement tries it only when no other server can take an account."""
        return self.health.is_down(server_id)

    async def forget(self, server_id: str, *, keep_health: bool = False) -> None:
        """Close a server's pool (after an update of its connection, or its deletion), and forget
        its health unless `keep_health` (the same Comet server with another pool size)."""
        self._cache.pop(server_id, None)
        if not keep_health:
            self.health.forget(server_id)
        await self.registry.remove(server_id)

    async def saved(self, server_id: str, tested: ConnectionTest | None, *, pool_changed: bool) -> None:
        """After a create or update committed: a new pool for new details, and the health the
        test found (a server registered offline on purpose is down until a probe finds it)."""
        if pool_changed:
            await self.forget(server_id, keep_health=tested is None)
        if tested is None:
            return
        if tested.ok:
            self.health.succeeded(server_id)
        elif tested.transient:
            self.health.mark_down(server_id)

    def remember_version(self, server_id: str, info: ServerInfo) -> None:
        """Hears every release a client learns of its server (at its first call, when its TTL runs
        out, after a reply that did not fit the known release): stores it when it changed, so
        GetServer shows an upgrade without anyone testing the connection."""
        text = info.version.text or str(info.version)
        if self._versions_seen.get(server_id) == text:
            return
        self._versions_seen[server_id] = text
        task = asyncio.get_running_loop().create_task(self._store_version(server_id, text))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _store_version(self, server_id: str, version: str) -> None:
        try:
            await self.record_version(server_id, version)
        except Exception:
            self._versions_seen.pop(server_id, None)  # try again when it is next learned
            log.warning(
                "could not store a server's Comet version", extra={"server_id": server_id}, exc_info=True
            )

    async def record_version(self, server_id: str, version: str) -> None:
        async with self._store.write() as uow:
            await uow.servers.record_version(server_id, version, utcnow())

    async def _probe(self, server_id: str) -> None:
        """The breaker's half-open probe of a server believed down."""
        client = await self.client(server_id)
        try:
            await client.meta_version(timeout_s=PROBE_TIMEOUT_S)
        except CometError as error:
            if error.retryable:
                self.health.failed(server_id)
            else:
                self.health.succeeded(server_id)  # it answered, if only to refuse
        else:
            self.health.succeeded(server_id)

    async def aclose(self) -> None:
        await self.health.aclose()
