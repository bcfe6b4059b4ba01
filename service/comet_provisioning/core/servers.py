"""Comet servers and server groups: validation, field-mask updates, and the calls made to a server
to test it or read what products choose from (policy groups, storage providers).

Mutations take the caller's connection, so an idempotency record (or anything else) can commit in
the same transaction; reads that talk to Comet open their own short read transaction first.
"""

from __future__ import annotations

import dataclasses
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
from comet_provisioning.store import Database, SecretBox, utcnow
from comet_provisioning.store import accounts as account_rows
from comet_provisioning.store import servers as rows

from .catalog import NAME_MAX, _text, enum_value
from .comet_errors import connection_failure, to_service_error
from .connection import (
    DEFAULT_MAX_CONNECTIONS,
    MAX_CONNECTIONS_LIMIT,
    base_url,
    check_ca_bundle,
    parse_host,
    write_ca_bundle,
)
from .errors import ErrorKind, ServiceError, Violations, not_found
from .masks import apply_mask, expand_mask
from .models import ConnectionSpec, Server, ServerGroup, ServerGroupSpec, ServerSpec, TlsSpec
from .pagination import decode_page
from .secrets import open_server_password

__all__ = ["ConnectionTest", "ServerManager", "new_id"]

# How long the hot path may reuse a server's resolved client before reading the server again.
CLIENT_CACHE_S = 5.0
# RPCs admitted per pooled Comet connection (see ServerManager.capacity).
RPCS_PER_CONNECTION = 4

USERNAME_MAX = 255
PASSWORD_MAX = 1024
PLACEMENT_RULES = ("LEAST_ACCOUNTS", "FILL_IN_ORDER")
DEFAULT_TEST_TIMEOUT_S = 15.0

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
)
_SERVER_GROUPS = {"*": _SERVER_LEAVES, "connection": _CONNECTION_LEAVES, "connection.tls": _TLS_LEAVES}
_SERVER_OUTPUT_ONLY = ("id", "base_url", "account_count", "admin_password_set", "create_time", "update_time")
_GROUP_LEAVES = ("name", "placement_rule", "failover")
_GROUP_OUTPUT_ONLY = ("id", "server_ids", "create_time", "update_time")


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ConnectionTest:
    """The outcome of a connection test; `failure` is a ConnectionFailure name, "" on success."""

    ok: bool
    failure: str = ""
    message: str = ""
    version: str = ""
    codename: str = ""
    roles: tuple[str, ...] = ()
    round_trip_s: float = 0.0


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
    ) -> None:
        self.db = db
        self.box = box
        self.registry = registry
        self.ca_dir = ca_dir
        self.request_timeout_s = request_timeout_s
        self._client_cache: dict[str, tuple[float, CometClient]] = {}

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

    async def create_server(self, conn: AsyncConnection, spec: ServerSpec) -> Server:
        name, connection = await self._check_server(conn, spec, password_required=True)
        assert connection.admin_password is not None
        server_id, now = new_id(), utcnow()
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
        )
        await rows.insert_server(conn, record)
        return record

    async def get_server(self, conn: AsyncConnection, server_id: str, *, for_update: bool = False) -> Server:
        if not server_id:
            raise _id_required()
        record = await rows.get_server(conn, server_id, for_update=for_update)
        if record is None:
            raise not_found("server", server_id)
        return record

    async def list_servers(
        self, conn: AsyncConnection, *, group_id: str, page_size: int, page_token: str
    ) -> tuple[list[Server], str]:
        page = decode_page(page_size, page_token, "ListServers", group_id)
        found = await rows.list_servers(conn, group_id=group_id or None, offset=page.offset, limit=page.fetch)
        return found[: page.size], page.next_token(len(found))

    async def update_server(
        self, conn: AsyncConnection, server_id: str, spec: ServerSpec, mask: Sequence[str]
    ) -> tuple[Server, bool]:
        """The updated server, and whether its Comet connection settings changed."""
        leaves = expand_mask(
            mask, groups=_SERVER_GROUPS, leaves=_SERVER_LEAVES, output_only=_SERVER_OUTPUT_ONLY
        )
        if not server_id:
            raise _id_required("server.id")
        current = await self.get_server(conn, server_id, for_update=True)
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
            update_time=utcnow(),
        )
        await rows.update_server(conn, updated)
        changed = connection.admin_password is not None or any(
            getattr(current, name) != getattr(updated, name)
            for name in (
                "protocol",
                "host",
                "port",
                "admin_username",
                "tls_insecure_skip_verify",
                "tls_ca_bundle_pem",
                "max_connections",
            )
        )
        return updated, changed

    async def delete_server(self, conn: AsyncConnection, server_id: str) -> None:
        await self.get_server(conn, server_id, for_update=True)
        live = await account_rows.live_count(conn, server_id=server_id)
        if live:
            raise ServiceError(
                ErrorKind.FAILED_PRECONDITION,
                "SERVER_HAS_ACCOUNTS",
                f"server {server_id!r} still holds {live} account(s); terminate or move them first",
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
            server_id=server.id,
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

    def capacity(self, server_id: str) -> int:
        """How many RPCs may work on the server at once: RPCS_PER_CONNECTION per pooled connection,
        because an RPC holds a connection only during its Comet calls, not while it writes to the
        store or encodes its answer (the pool itself queues the calls for a connection)."""
        cached = self._client_cache.get(server_id)
        connections = cached[1].config.max_connections if cached is not None else DEFAULT_MAX_CONNECTIONS
        return connections * RPCS_PER_CONNECTION

    async def forget_client(self, server_id: str) -> None:
        """Close a server's pool (after an update of its connection, or its deletion)."""
        self._client_cache.pop(server_id, None)
        await self.registry.remove(server_id)

    async def test_connection(
        self,
        *,
        server_id: str = "",
        connection: ConnectionSpec | None = None,
        timeout_s: float = DEFAULT_TEST_TIMEOUT_S,
    ) -> ConnectionTest:
        """One `meta/version` call, no retries, on a fresh connection: a verdict, never an exception
        for what the server did (unknown server ids and invalid details are errors, though).
        """
        if connection is not None:
            violations = Violations()
            checked = _check_connection(connection, violations, "connection", password_required=True)
            violations.raise_if_any()
            assert checked.admin_password is not None
            server = Server(
                id="unsaved",
                display_name="",
                protocol=checked.protocol,
                host=checked.host,
                port=checked.port,
                admin_username=checked.admin_username,
                admin_password_enc=self.box.encrypt(checked.admin_password, bound_to="unsaved"),
                tls_insecure_skip_verify=checked.tls_insecure_skip_verify,
                tls_ca_bundle_pem=checked.tls_ca_bundle_pem,
                server_group_id=None,
                max_accounts=0,
                max_connections=1,
                placement_order=0,
                create_time=utcnow(),
                update_time=utcnow(),
            )
        elif server_id:
            async with self.db.read() as conn:
                server = await self.get_server(conn, server_id)
        else:
            raise ServiceError(
                ErrorKind.INVALID_ARGUMENT,
                "INVALID_REQUEST",
                "name a saved server (server_id) or unsaved connection details (connection)",
                violations=[],
                metadata={"fields": "server_id,connection"},
            )
        timeout_s = max(timeout_s, 0.1)
        config = self.comet_config(
            server,
            max_connections=1,
            max_retries=0,
            connect_timeout_s=min(5.0, timeout_s),
            request_timeout_s=timeout_s,
        )
        started = time.perf_counter()
        try:
            async with CometClient(config) as client:
                meta = await client.meta_version(timeout_s=timeout_s)
        except CometError as error:
            return ConnectionTest(
                ok=False,
                failure=connection_failure(error),
                message=error.message,
                round_trip_s=time.perf_counter() - started,
            )
        elapsed = time.perf_counter() - started
        roles = tuple(
            role
            for role, key in (
                ("storage", "StorageRole"),
                ("authentication", "AuthenticationRole"),
                ("overseer", "OverseerRole"),
            )
            if meta.raw.get(key) is True
        )
        codename = meta.raw.get("VersionCodename")
        return ConnectionTest(
            ok=True,
            version=meta.version,
            codename=codename if isinstance(codename, str) else "",
            roles=roles,
            round_trip_s=elapsed,
        )

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
