"""Comet servers and server groups: validation, field-mask updates, and the calls made to a server
to test it or read what products choose from (policy groups, storage providers).

Mutations take the caller's connection, so an idempotency record (or anything else) can commit in
the same transaction; reads that talk to Comet open their own short read transaction first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.comet.client import CometClient
from comet_provisioning.comet.config import CometServerConfig
from comet_provisioning.comet.errors import CometError
from comet_provisioning.comet.registry import CometClientRegistry
from comet_provisioning.comet.server_info import ServerInfo
from comet_provisioning.crypto import SecretBox
from comet_provisioning.store import Database, utcnow
from comet_provisioning.store import accounts as account_rows
from comet_provisioning.store import products as product_rows
from comet_provisioning.store import servers as rows

from .catalog import NAME_MAX, _text, enum_value
from .comet_errors import name_server, to_service_error
from .connection import (
    DEFAULT_MAX_CONNECTIONS,
    MAX_CONNECTIONS_LIMIT,
    base_url,
    check_ca_bundle,
    parse_host,
    write_ca_bundle,
)
from .connection_test import ConnectionTest, refused, run_test
from .errors import ErrorKind, ServiceError, Violations, not_found
from .masks import apply_mask, expand_mask
from .models import ConnectionSpec, Server, ServerGroup, ServerGroupSpec, ServerSpec, TlsSpec, describe
from .pagination import decode_page
from .product_checks import CHECKED_SETTINGS, problems_on, unreachable, unsupported
from .secrets import open_server_password
from .server_health import HealthBoard

log = logging.getLogger("comet_provisioning.servers")

__all__ = ["ConnectionTest", "ServerManager", "describe", "new_id"]

# How long the hot path may reuse a server's resolved client before reading the server again.
CLIENT_CACHE_S = 5.0
# RPCs admitted per pooled Comet connection (see ServerManager.capacity).
RPCS_PER_CONNECTION = 4

USERNAME_MAX = 255
PASSWORD_MAX = 1024
PLACEMENT_RULES = ("LEAST_ACCOUNTS", "FILL_IN_ORDER")
DEFAULT_TEST_TIMEOUT_S = 15.0
_PRODUCTS_MAX = 10_000
# A probe of a server believed down: one meta/version, retried only within this budget.
PROBE_TIMEOUT_S = 5.0

_TLS_LEAVES = ("connection.tls.insecure_skip_verify", "connection.tls.ca_bundle_pem")
_CONNECTION_LEAVES = (
    "connection.protocol",
    "connection.host",
    "connection.port",
    "connection.admin_username",
    "connection.admin_password",
    *_TLS_LEAVES,
)
_SERVER_LEAVES = (
    "display_name",
    *_CONNECTION_LEAVES,
    "server_group_id",
    "max_accounts",
    "max_connections",
    "placement_order",
    "draining",
)
_SERVER_GROUPS = {"*": _SERVER_LEAVES, "connection": _CONNECTION_LEAVES, "connection.tls": _TLS_LEAVES}
_SERVER_OUTPUT_ONLY = (
    "id",
    "base_url",
    "account_count",
    "admin_password_set",
    "create_time",
    "update_time",
    "comet_version",
    "comet_version_time",
    "health",
)
# What decides which Comet server is reached, as whom: a change is tested before it is saved.
_TARGET_FIELDS = (
    "protocol",
    "host",
    "port",
    "admin_username",
    "tls_insecure_skip_verify",
    "tls_ca_bundle_pem",
)
_GROUP_LEAVES = ("name", "placement_rule", "failover")
_GROUP_OUTPUT_ONLY = ("id", "server_ids", "create_time", "update_time")


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class _Connection:
    protocol: str
    host: str
    port: int
    admin_username: str
    admin_password: str | None
    tls_insecure_skip_verify: bool
    tls_ca_bundle_pem: str


def _check_connection(
    spec: ConnectionSpec, violations: Violations, field: str, *, password_required: bool
) -> _Connection:
    protocol = enum_value(violations, f"{field}.protocol", spec.protocol, ("HTTP", "HTTPS"), "").lower()
    host, port = "", spec.port
    try:
        parsed = parse_host(spec.host)
    except ValueError as exc:
        violations.add(f"{field}.host", str(exc))
    else:
        host = parsed.host
        if parsed.scheme and protocol and parsed.scheme != protocol:
            violations.add(
                f"{field}.host", f"says {parsed.scheme} but {field}.protocol is {protocol.upper()}"
            )
        protocol = protocol or parsed.scheme or ""
        if parsed.port is not None:
            if spec.port and spec.port != parsed.port:
                violations.add(
                    f"{field}.port", f"{spec.port} contradicts the port {parsed.port} in {field}.host"
                )
            port = parsed.port
    if not 0 <= spec.port <= 65535:
        violations.add(f"{field}.port", "must be from 1 to 65535 (0 for the protocol's default)")
    username = _text(violations, f"{field}.admin_username", spec.admin_username, USERNAME_MAX, required=True)
    password = spec.admin_password
    if password is not None:
        if not password and password_required:
            violations.add(f"{field}.admin_password", "required")
        elif len(password) > PASSWORD_MAX:
            violations.add(f"{field}.admin_password", f"at most {PASSWORD_MAX} characters")
    check_ca_bundle(spec.tls.ca_bundle_pem, violations, f"{field}.tls.ca_bundle_pem")
    return _Connection(
        protocol=protocol or "https",
        host=host,
        port=port,
        admin_username=username,
        admin_password=password,
        tls_insecure_skip_verify=spec.tls.insecure_skip_verify,
        tls_ca_bundle_pem=spec.tls.ca_bundle_pem,
    )


def _spec_of(server: Server) -> ServerSpec:
    return ServerSpec(
        display_name=server.display_name,
        connection=ConnectionSpec(
            protocol=server.protocol.upper(),
            host=server.host if ":" not in server.host else f"[{server.host}]",
            port=server.port,
            admin_username=server.admin_username,
            admin_password=None,
            tls=TlsSpec(server.tls_insecure_skip_verify, server.tls_ca_bundle_pem),
        ),
        server_group_id=server.server_group_id or "",
        max_accounts=server.max_accounts,
        max_connections=server.max_connections,
        placement_order=server.placement_order,
        draining=server.draining,
    )


class ServerManager:
    """Servers and groups in the store, and their Comet clients in the registry."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        registry: CometClientRegistry,
        *,
        ca_dir: Path,
        request_timeout_s: float = 30.0,
        health: HealthBoard | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.registry = registry
        self.ca_dir = ca_dir
        self.request_timeout_s = request_timeout_s
        self._client_cache: dict[str, tuple[float, CometClient]] = {}
        self._versions_seen: dict[str, str] = {}
        self._background: set[asyncio.Task[None]] = set()
        # Fed by the registry's clients when it is also their observer (see app.py).
        self.health = health or HealthBoard()
        self.health.set_probe(self._probe)

    # -- servers ----------------------------------------------------------------------------------

    async def _check_server(
        self,
        conn: AsyncConnection,
        spec: ServerSpec,
        *,
        password_required: bool,
        exclude_id: str | None = None,
        field: str = "server",
    ) -> tuple[str, _Connection]:
        violations = Violations()
        name = _text(violations, f"{field}.display_name", spec.display_name, NAME_MAX, required=True)
        if spec.connection is None:
            violations.add(f"{field}.connection", "required")
            connection = _check_connection(ConnectionSpec(), Violations(), "", password_required=False)
        else:
            connection = _check_connection(
                spec.connection, violations, f"{field}.connection", password_required=password_required
            )
        if spec.server_group_id and await rows.get_group(conn, spec.server_group_id) is None:
            violations.add(f"{field}.server_group_id", f"no server group {spec.server_group_id!r}")
        if spec.max_accounts < 0:
            violations.add(f"{field}.max_accounts", "must not be negative (0 for no limit)")
        if not 0 <= spec.max_connections <= MAX_CONNECTIONS_LIMIT:
            violations.add(
                f"{field}.max_connections",
                f"must be from 1 to {MAX_CONNECTIONS_LIMIT} (0 for the default, {DEFAULT_MAX_CONNECTIONS})",
            )
        violations.raise_if_any()
        if await rows.server_name_taken(conn, name, exclude_id=exclude_id):
            raise ServiceError(
                ErrorKind.ALREADY_EXISTS,
                "SERVER_ALREADY_EXISTS",
                f"a server named {name!r} already exists",
                metadata={"display_name": name},
            )
        return name, connection

    async def create_server(
        self, conn: AsyncConnection, spec: ServerSpec, *, tested: ConnectionTest | None = None
    ) -> Server:
        """Stores a new server; `tested`: the connection test its details passed (see verify_new),
        whose Comet version is kept."""
        name, connection = await self._check_server(conn, spec, password_required=True)
        assert connection.admin_password is not None
        server_id, now = new_id(), utcnow()
        known = tested is not None and tested.ok
        record = Server(
            id=server_id,
            display_name=name,
            protocol=connection.protocol,
            host=connection.host,
            port=connection.port,
            admin_username=connection.admin_username,
            admin_password_enc=self.box.encrypt(connection.admin_password, bound_to=server_id),
            tls_insecure_skip_verify=connection.tls_insecure_skip_verify,
            tls_ca_bundle_pem=connection.tls_ca_bundle_pem,
            server_group_id=spec.server_group_id or None,
            max_accounts=spec.max_accounts,
            max_connections=spec.max_connections,
            placement_order=spec.placement_order,
            create_time=now,
            update_time=now,
            comet_version=tested.version if tested is not None and known else "",
            comet_version_time=now if known else None,
            draining=spec.draining,
        )
        await rows.insert_server(conn, record)
        name_server(record.id, record.display_name)
        return record

    async def server(self, server_id: str) -> Server:
        """One server, read on its own (NOT_FOUND when there is none)."""
        async with self.db.read() as conn:
            return await self.get_server(conn, server_id)

    async def get_server(self, conn: AsyncConnection, server_id: str, *, for_update: bool = False) -> Server:
        if not server_id:
            raise _id_required()
        record = await rows.get_server(conn, server_id, for_update=for_update)
        if record is None:
            raise not_found("server", server_id)
        name_server(record.id, record.display_name)
        return record

    async def list_servers(
        self, conn: AsyncConnection, *, group_id: str, page_size: int, page_token: str
    ) -> tuple[list[Server], str]:
        page = decode_page(page_size, page_token, "ListServers", group_id)
        found = await rows.list_servers(conn, group_id=group_id or None, offset=page.offset, limit=page.fetch)
        return found[: page.size], page.next_token(len(found))

    async def _merge(
        self, conn: AsyncConnection, server_id: str, spec: ServerSpec, mask: Sequence[str], *, lock: bool
    ) -> tuple[Server, Server, bool]:
        """(stored, updated as the mask asks, whether the Comet target changed), nothing written."""
        leaves = expand_mask(
            mask, groups=_SERVER_GROUPS, leaves=_SERVER_LEAVES, output_only=_SERVER_OUTPUT_ONLY
        )
        if not server_id:
            raise _id_required("server.id")
        current = await self.get_server(conn, server_id, for_update=lock)
        merged = _spec_of(current)
        incoming = dataclasses.replace(spec, connection=spec.connection or ConnectionSpec())
        assert merged.connection is not None
        assert incoming.connection is not None
        try:
            typed = parse_host(incoming.connection.host) if "connection.host" in leaves else None
        except ValueError:
            typed = None
        apply_mask(merged, incoming, leaves)
        if typed is not None and typed.port is not None and "connection.port" not in leaves:
            merged.connection.port = 0  # "host:port" typed alone moves the port too
        if typed is not None and typed.scheme and "connection.protocol" not in leaves:
            merged.connection.protocol = "UNSPECIFIED"
        if "connection.admin_password" not in mask and not merged.connection.admin_password:
            merged.connection.admin_password = None  # input only: not re-sent means unchanged
        name, connection = await self._check_server(
            conn, merged, password_required=True, exclude_id=server_id
        )
        password_enc = current.admin_password_enc
        if connection.admin_password is not None:
            password_enc = self.box.encrypt(connection.admin_password, bound_to=server_id)
        updated = dataclasses.replace(
            current,
            display_name=name,
            protocol=connection.protocol,
            host=connection.host,
            port=connection.port,
            admin_username=connection.admin_username,
            admin_password_enc=password_enc,
            tls_insecure_skip_verify=connection.tls_insecure_skip_verify,
            tls_ca_bundle_pem=connection.tls_ca_bundle_pem,
            server_group_id=merged.server_group_id or None,
            max_accounts=merged.max_accounts,
            max_connections=merged.max_connections,
            placement_order=merged.placement_order,
            draining=merged.draining,
            update_time=utcnow(),
        )
        target_changed = connection.admin_password is not None or any(
            getattr(current, field) != getattr(updated, field) for field in _TARGET_FIELDS
        )
        return current, updated, target_changed

    async def update_server(
        self,
        conn: AsyncConnection,
        server_id: str,
        spec: ServerSpec,
        mask: Sequence[str],
        *,
        tested: ConnectionTest | None = None,
    ) -> tuple[Server, bool]:
        """The updated server, and whether its Comet connection settings changed (its pool must be
        replaced). New connection details keep the Comet version `tested` found (verify_update)."""
        current, updated, target_changed = await self._merge(conn, server_id, spec, mask, lock=True)
        if target_changed:
            known = (
                tested is not None
                and tested.ok
                and tested.base_url == base_url(updated.protocol, updated.host, updated.port)
            )
            updated = dataclasses.replace(
                updated,
                comet_version=tested.version if tested is not None and known else "",
                comet_version_time=updated.update_time if known else None,
            )
        await rows.update_server(conn, updated)
        name_server(updated.id, updated.display_name)
        return updated, target_changed or current.max_connections != updated.max_connections

    async def delete_server(self, conn: AsyncConnection, server_id: str) -> None:
        server = await self.get_server(conn, server_id, for_update=True)
        live = await account_rows.live_count(conn, server_id=server_id)
        if live:
            raise ServiceError(
                ErrorKind.FAILED_PRECONDITION,
                "SERVER_HAS_ACCOUNTS",
                f"server {describe(server)} still holds {live} account(s) not terminated;"
                " terminate or move them first",
                metadata={"server_id": server_id, "account_count": str(live)},
            )
        await account_rows.detach_terminated(conn, server_id=server_id)
        await rows.delete_server(conn, server_id)

    # -- groups -----------------------------------------------------------------------------------

    async def _check_group(
        self, conn: AsyncConnection, spec: ServerGroupSpec, *, exclude_id: str | None = None
    ) -> tuple[str, str]:
        violations = Violations()
        name = _text(violations, "server_group.name", spec.name, NAME_MAX, required=True)
        rule = enum_value(
            violations, "server_group.placement_rule", spec.placement_rule, PLACEMENT_RULES, "LEAST_ACCOUNTS"
        )
        violations.raise_if_any()
        if await rows.group_name_taken(conn, name, exclude_id=exclude_id):
            raise ServiceError(
                ErrorKind.ALREADY_EXISTS,
                "SERVER_GROUP_ALREADY_EXISTS",
                f"a server group named {name!r} already exists",
                metadata={"name": name},
            )
        return name, rule

    async def create_group(self, conn: AsyncConnection, spec: ServerGroupSpec) -> ServerGroup:
        name, rule = await self._check_group(conn, spec)
        now = utcnow()
        record = ServerGroup(
            id=new_id(),
            name=name,
            placement_rule=rule,
            failover=spec.failover,
            create_time=now,
            update_time=now,
        )
        await rows.insert_group(conn, record)
        return record

    async def get_group(
        self, conn: AsyncConnection, group_id: str, *, for_update: bool = False
    ) -> ServerGroup:
        if not group_id:
            raise _id_required()
        record = await rows.get_group(conn, group_id, for_update=for_update)
        if record is None:
            raise not_found("server_group", group_id)
        return record

    async def list_groups(
        self, conn: AsyncConnection, *, page_size: int, page_token: str
    ) -> tuple[list[ServerGroup], str]:
        page = decode_page(page_size, page_token, "ListServerGroups")
        found = await rows.list_groups(conn, offset=page.offset, limit=page.fetch)
        return found[: page.size], page.next_token(len(found))

    async def update_group(
        self, conn: AsyncConnection, group_id: str, spec: ServerGroupSpec, mask: Sequence[str]
    ) -> ServerGroup:
        leaves = expand_mask(
            mask, groups={"*": _GROUP_LEAVES}, leaves=_GROUP_LEAVES, output_only=_GROUP_OUTPUT_ONLY
        )
        if not group_id:
            raise _id_required("server_group.id")
        current = await self.get_group(conn, group_id, for_update=True)
        merged = ServerGroupSpec(
            name=current.name, placement_rule=current.placement_rule, failover=current.failover
        )
        apply_mask(merged, spec, leaves)
        name, rule = await self._check_group(conn, merged, exclude_id=group_id)
        updated = dataclasses.replace(
            current, name=name, placement_rule=rule, failover=merged.failover, update_time=utcnow()
        )
        await rows.update_group(conn, updated)
        return updated

    async def delete_group(self, conn: AsyncConnection, group_id: str) -> None:
        await self.get_group(conn, group_id, for_update=True)
        used_by = await rows.products_using_group(conn, group_id)
        if used_by:
            raise ServiceError(
                ErrorKind.FAILED_PRECONDITION,
                "SERVER_GROUP_IN_USE",
                f"{used_by} product(s) place accounts through server group {group_id!r}; change them first",
                metadata={"server_group_id": group_id, "product_count": str(used_by)},
            )
        live = await account_rows.live_count_in_group(conn, group_id)
        if live:
            raise ServiceError(
                ErrorKind.FAILED_PRECONDITION,
                "SERVER_GROUP_HAS_ACCOUNTS",
                f"the servers of group {group_id!r} still hold {live} account(s)",
                metadata={"server_group_id": group_id, "account_count": str(live)},
            )
        await rows.ungroup_servers(conn, group_id)
        await rows.delete_group(conn, group_id)

    # -- talking to Comet -------------------------------------------------------------------------

    def comet_config(self, server: Server, **overrides: object) -> CometServerConfig:
        """The client settings of a stored server (its password decrypted here, kept in memory only)."""
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
        cached = self._client_cache.get(server_id)
        now = time.monotonic()
        if cached is not None and cached[0] > now and not cached[1].closed:
            return cached[1]
        async with self.db.read() as conn:
            server = await self.get_server(conn, server_id)
        client = await self.registry.get(self.comet_config(server))
        self._client_cache[server_id] = (now + CLIENT_CACHE_S, client)
        return client

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
            async with self.db.transaction() as conn:
                await rows.record_version(conn, server_id, version, utcnow())
        except Exception:
            self._versions_seen.pop(server_id, None)  # try again when it is next learned
            log.warning(
                "could not store a server's Comet version", extra={"server_id": server_id}, exc_info=True
            )

    def cached(self, server_id: str) -> CometClient | None:
        """The server's client if this process holds a current one (no I/O), else None."""
        cached = self._client_cache.get(server_id)
        if cached is None or cached[0] <= time.monotonic() or cached[1].closed:
            return None
        return cached[1]

    def capacity(self, server_id: str) -> int:
        """How many RPCs may work on the server at once: RPCS_PER_CONNECTION per pooled connection,
        because an RPC holds a connection only during its Comet calls, not while it writes to the
        store or encodes its answer (the pool itself queues the calls for a connection)."""
        cached = self._client_cache.get(server_id)
        connections = cached[1].config.max_connections if cached is not None else DEFAULT_MAX_CONNECTIONS
        return connections * RPCS_PER_CONNECTION

    async def forget_client(self, server_id: str, *, keep_health: bool = False) -> None:
        """Close a server's pool (after an update of its connection, or its deletion), and forget
        its health unless `keep_health` (the same Comet server with another pool size)."""
        self._client_cache.pop(server_id, None)
        if not keep_health:
            self.health.forget(server_id)
        await self.registry.remove(server_id)

    def _unsaved(self, checked: _Connection, display_name: str = "") -> Server:
        """Connection details not stored yet, as a record a client can be configured from."""
        assert checked.admin_password is not None
        now = utcnow()
        return Server(
            id="",
            display_name=display_name,
            protocol=checked.protocol,
            host=checked.host,
            port=checked.port,
            admin_username=checked.admin_username,
            admin_password_enc=self.box.encrypt(checked.admin_password, bound_to=""),
            tls_insecure_skip_verify=checked.tls_insecure_skip_verify,
            tls_ca_bundle_pem=checked.tls_ca_bundle_pem,
            server_group_id=None,
            max_accounts=0,
            max_connections=1,
            placement_order=0,
            create_time=now,
            update_time=now,
        )

    async def _test(self, server: Server, timeout_s: float) -> ConnectionTest:
        timeout_s = max(timeout_s, 0.1)
        config = self.comet_config(
            server,
            max_connections=1,
            max_retries=0,
            connect_timeout_s=min(5.0, timeout_s),
            request_timeout_s=timeout_s,
        )
        return await run_test(config, timeout_s)

    async def test_connection(
        self,
        *,
        server_id: str = "",
        connection: ConnectionSpec | None = None,
        timeout_s: float = DEFAULT_TEST_TIMEOUT_S,
    ) -> ConnectionTest:
        """One `meta/version` call, no retries, on a fresh connection: a verdict, never an exception
        for what the server did (unknown server ids and invalid details are errors, though). A
        saved server's result also updates its health and its stored Comet version.
        """
        if connection is not None:
            violations = Violations()
            checked = _check_connection(connection, violations, "connection", password_required=True)
            violations.raise_if_any()
            return await self._test(self._unsaved(checked), timeout_s)
        if not server_id:
            raise ServiceError(
                ErrorKind.INVALID_ARGUMENT,
                "INVALID_REQUEST",
                "name a saved server (server_id) or unsaved connection details (connection)",
                violations=[],
                metadata={"fields": "server_id,connection"},
            )
        async with self.db.read() as conn:
            server = await self.get_server(conn, server_id)
        result = await self._test(server, timeout_s)
        if result.ok:
            self.health.succeeded(server.id)
            async with self.db.transaction() as conn:
                await rows.record_version(conn, server.id, result.version, utcnow())
        elif result.transient:
            self.health.failed(server.id)
        return result

    async def verify_new(self, spec: ServerSpec, *, allow_offline: bool, timeout_s: float) -> ConnectionTest:
        """Checks a server to register (INVALID_ARGUMENT, ALREADY_EXISTS) and tests its connection;
        a failed test is FAILED_PRECONDITION unless `allow_offline`. Writes nothing."""
        async with self.db.read() as conn:
            name, checked = await self._check_server(conn, spec, password_required=True)
        draft = dataclasses.replace(
            self._unsaved(checked, name), server_group_id=spec.server_group_id or None
        )
        result = await self._test(draft, timeout_s)
        if not result.ok and not allow_offline:
            raise refused(repr(name), result, {"display_name": name})
        if result.ok:
            await self._check_products(draft, timeout_s=timeout_s)
        return result

    async def verify_update(
        self, server_id: str, spec: ServerSpec, mask: Sequence[str], *, allow_offline: bool, timeout_s: float
    ) -> ConnectionTest | None:
        """Tests the connection details an update would save, if it changes them (None otherwise);
        a failed test is FAILED_PRECONDITION unless `allow_offline`. Writes nothing."""
        async with self.db.read() as conn:
            current, updated, target_changed = await self._merge(conn, server_id, spec, mask, lock=False)
        joins = updated.server_group_id is not None and updated.server_group_id != current.server_group_id
        if not target_changed:
            if joins:
                await self._check_products(updated, timeout_s=timeout_s, allow_offline=allow_offline)
            return None
        result = await self._test(updated, timeout_s)
        if not result.ok and not allow_offline:
            raise refused(
                describe(updated), result, {"server_id": server_id, "display_name": updated.display_name}
            )
        if result.ok and updated.server_group_id is not None:
            await self._check_products(updated, timeout_s=timeout_s)  # another Comet server, maybe
        return result

    async def _check_products(self, server: Server, *, timeout_s: float, allow_offline: bool = False) -> None:
        """A server joining a group (or reached anew) must offer what the group's products use;
        one that cannot be asked joins only with `allow_offline`."""
        async with self.db.read() as conn:
            every = await product_rows.list_products(conn, offset=0, limit=_PRODUCTS_MAX)
        products = [p for p in every if p.server_group_id == server.server_group_id]
        if not products:
            return
        config = self.comet_config(server, max_connections=1, request_timeout_s=max(timeout_s, 0.1))
        try:
            async with CometClient(config) as client:
                problems = await problems_on(client, server, products, timeout_s=timeout_s)
        except CometError as error:
            if allow_offline:
                return
            raise unreachable(server, error) from error
        if problems:
            raise unsupported(problems, field_of=dict.fromkeys(CHECKED_SETTINGS, "server.server_group_id"))

    async def saved(self, server_id: str, tested: ConnectionTest | None, *, pool_changed: bool) -> None:
        """After a create or update committed: a new pool for new details, and the health the
        test found (a server registered offline on purpose is down until a probe finds it)."""
        if pool_changed:
            await self.forget_client(server_id, keep_health=tested is None)
        if tested is None:
            return
        if tested.ok:
            self.health.succeeded(server_id)
        elif tested.transient:
            self.health.mark_down(server_id)

    # -- health -----------------------------------------------------------------------------------

    def server_down(self, server_id: str) -> bool:
        """Known unreachable: placement tries it only when no other server can take an account."""
        return self.health.is_down(server_id)

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

    async def list_policy_groups(
        self, server_id: str, *, timeout_s: float | None = None
    ) -> list[tuple[str, str]]:
        """(policy id, description) pairs, by description."""
        return await self._id_descriptions(server_id, lambda c: c.list_policies(timeout_s=timeout_s))

    async def list_storage_providers(
        self, server_id: str, *, timeout_s: float | None = None
    ) -> list[tuple[str, str]]:
        """(provider id, description) pairs, by description."""
        return await self._id_descriptions(server_id, lambda c: c.list_storage_providers(timeout_s=timeout_s))

    async def _id_descriptions(
        self, server_id: str, fetch: Callable[[CometClient], Awaitable[dict[str, str]]]
    ) -> list[tuple[str, str]]:
        """A Comet `{id: description}` listing of a stored server, sorted by description."""
        client = await self.client(_required(server_id, "server_id"))
        try:
            found = await fetch(client)
        except CometError as error:
            raise to_service_error(error, server_id) from error
        return sorted(found.items(), key=lambda item: (item[1].casefold(), item[0]))

    async def create_admin_session(
        self, server_id: str, *, timeout_s: float | None = None
    ) -> tuple[str, str, str]:
        """(session key, session type, base URL to open) for admin single sign-on."""
        client = await self.client(_required(server_id, "server_id"))
        try:
            session = await client.start_admin_session(timeout_s=timeout_s)
        except CometError as error:
            raise to_service_error(error, server_id) from error
        return session.key, session.type, client.config.base_url


def _required(value: str, field: str) -> str:
    if not value:
        raise _id_required(field)
    return value


def _id_required(field: str = "id") -> ServiceError:
    violations = Violations()
    violations.add(field, "required")
    return ServiceError(
        ErrorKind.INVALID_ARGUMENT,
        "INVALID_REQUEST",
        f"{field}: required",
        violations=violations.items,
        metadata={"fields": field},
    )
