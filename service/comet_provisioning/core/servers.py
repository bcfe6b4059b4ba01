"""The servers core, assembled: Comet servers (CRUD with field-mask updates, checked against Comet
before a save), their groups, their clients and health, and what a server offers.

Writes run once per request id (core/mutations.py), each in one transaction with its record; the
checks that talk to Comet run before it, so a slow server never holds a transaction open.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from comet_provisioning.comet.client import CometClient
from comet_provisioning.comet.registry import CometClientRegistry
from comet_provisioning.crypto import SecretBox

from .clock import utcnow
from .comet_clients import ServerClients
from .comet_errors import name_server
from .connection_test import ConnectionTest
from .crud import Crud, Written, in_use, new_id
from .errors import Violations
from .models import Server, ServerSpec, describe
from .mutations import Mutation, Mutations
from .server_checks import ServerChecks
from .server_fields import CheckedConnection, check_server
from .server_groups import ServerGroups
from .server_health import HealthBoard
from .server_masks import TARGET_FIELDS, merge_server, server_leaves
from .server_offers import ServerOffers
from .unit_of_work import Store, UnitOfWork

__all__ = ["ServerManager"]

Encode = Callable[[Server], bytes]


class ServerManager:
    def __init__(
        self,
        store: Store,
        box: SecretBox,
        registry: CometClientRegistry,
        mutations: Mutations,
        *,
        ca_dir: Path,
        request_timeout_s: float = 30.0,
        health: HealthBoard | None = None,
    ) -> None:
        self._crud = Crud[Server](
            store,
            mutations,
            lambda uow: uow.servers,
            noun="server",
            name_field="display_name",
            list_method="ListServers",
            group_field="server.server_group_id",
        )
        self._mutations = mutations
        self._box = box
        self.health = health or HealthBoard()
        self.clients = ServerClients(
            self.server,
            store,
            box,
            registry,
            self.health,
            ca_dir=ca_dir,
            request_timeout_s=request_timeout_s,
        )
        self.checks = ServerChecks(self.server, store, self.clients)
        self.groups = ServerGroups(store, mutations)
        self.offers = ServerOffers(self.clients)

    # -- reads ------------------------------------------------------------------------------------

    async def server(self, server_id: str) -> Server:
        """One server, read on its own (NOT_FOUND when there is none)."""
        return _named(await self._crud.one(server_id))

    async def client(self, server_id: str) -> CometClient:
        """The pooled client of a stored server (NOT_FOUND when there is none)."""
        return await self.clients.client(server_id)

    async def page(self, group_id: str, page_size: int, page_token: str) -> tuple[list[Server], str]:
        """The servers (of one group, or all when `group_id` is "")."""
        found, token = await self._crud.page(
            page_size,
            page_token,
            lambda uow, offset, limit: uow.servers.page(
                group_id=group_id or None, offset=offset, limit=limit
            ),
            group_id,
        )
        return [_named(server) for server in found], token

    # -- writes -----------------------------------------------------------------------------------

    async def _check(
        self, uow: UnitOfWork, spec: ServerSpec, *, server_id: str = ""
    ) -> tuple[str, CheckedConnection]:
        violations = Violations()
        name, connection = check_server(spec, violations, "server")
        if spec.server_group_id and await uow.server_groups.get(spec.server_group_id) is None:
            violations.add("server.server_group_id", f"no server group {spec.server_group_id!r}")
        violations.raise_if_any()
        await self._crud.check_name(uow, name, other_than=server_id)
        return name, connection

    async def create(
        self, spec: ServerSpec, mutation: Mutation, encode: Encode, *, allow_offline: bool, timeout_s: float
    ) -> Written[Server]:
        """Checks the server (INVALID_ARGUMENT, ALREADY_EXISTS) and tests its connection before it
        is stored (FAILED_PRECONDITION when the test fails, unless `allow_offline`)."""

        async def verify() -> ConnectionTest:
            async with self._crud.store.read() as uow:
                name, checked = await self._check(uow, spec)
            draft = self.checks.draft(checked, name, spec.server_group_id or None)
            return await self.checks.new_server(draft, allow_offline=allow_offline, timeout_s=timeout_s)

        tested = await self._mutations.unless_replayed(mutation, verify)

        async def build(uow: UnitOfWork) -> Server:
            name, connection = await self._check(uow, spec)
            assert connection.admin_password is not None
            server_id, now = new_id(), utcnow()
            known = tested is not None and tested.ok
            return Server(
                id=server_id,
                **_fields(name, connection, spec),
                admin_password_enc=self._box.encrypt(connection.admin_password, bound_to=server_id),
                create_time=now,
                update_time=now,
                comet_version=tested.version if tested is not None and known else "",
                comet_version_time=now if known else None,
            )

        written = await self._crud.create(mutation, build, encode)
        if written.after is not None:
            _named(written.after)
            await self.clients.saved(written.after.id, tested, pool_changed=False)
        return written

    async def _merge(
        self, uow: UnitOfWork, current: Server, spec: ServerSpec, mask: Sequence[str], leaves: set[str]
    ) -> tuple[Server, bool]:
        """The server updated as the mask asks, and whether its Comet target changed."""
        merged = merge_server(current, spec, mask, leaves)
        name, connection = await self._check(uow, merged, server_id=current.id)
        password_enc = current.admin_password_enc
        if connection.admin_password is not None:
            password_enc = self._box.encrypt(connection.admin_password, bound_to=current.id)
        updated = dataclasses.replace(
            current,
            **_fields(name, connection, merged),
            admin_password_enc=password_enc,
            update_time=utcnow(),
        )
        return updated, _target_changed(current, updated)

    async def update(
        self,
        server_id: str,
        spec: ServerSpec,
        mask: Sequence[str],
        mutation: Mutation,
        encode: Encode,
        *,
        allow_offline: bool,
        timeout_s: float,
    ) -> Written[Server]:
        """As the mask asks; new connection details are tested first (FAILED_PRECONDITION when the
        test fails, unless `allow_offline`) and get a new pool once saved."""
        leaves = server_leaves(mask)

        async def verify() -> ConnectionTest | None:
            async with self._crud.store.read() as uow:
                current = await self._crud.get(uow, server_id, field="server.id")
                updated, target_changed = await self._merge(uow, current, spec, mask, leaves)
            return await self.checks.changed_server(
                current,
                updated,
                target_changed=target_changed,
                allow_offline=allow_offline,
                timeout_s=timeout_s,
            )

        tested = await self._mutations.unless_replayed(mutation, verify)

        async def merge(uow: UnitOfWork, current: Server) -> Server:
            updated, target_changed = await self._merge(uow, current, spec, mask, leaves)
            return self.checks.keeps_version(updated, tested) if target_changed else updated

        written = await self._crud.update(mutation, server_id, merge, encode, field="server.id")
        if written.before is not None and written.after is not None:
            before, after = written.before, _named(written.after)
            # The next call opens a new pool; the health is that of the new details.
            pool_changed = _target_changed(before, after) or before.max_connections != after.max_connections
            await self.clients.saved(server_id, tested, pool_changed=pool_changed)
        return written

    async def delete(self, server_id: str, mutation: Mutation) -> None:
        """Only a server without live accounts; its pool is closed (also on a replay)."""

        async def still_used(uow: UnitOfWork, server: Server) -> None:
            live = await uow.servers.live_accounts(server_id)
            if live:
                raise in_use(
                    "SERVER_HAS_ACCOUNTS",
                    f"server {describe(server)} still holds {live} account(s) not terminated;"
                    " terminate or move them first",
                    server_id=server_id,
                    account_count=str(live),
                )

        await self._crud.delete(mutation, server_id, still_used)
        await self.clients.forget(server_id)

    async def aclose(self) -> None:
        await self.clients.aclose()


def _fields(name: str, connection: CheckedConnection, spec: ServerSpec) -> dict[str, Any]:
    """What a checked request sets of a server, its password aside."""
    return {
        "display_name": name,
        "protocol": connection.protocol,
        "host": connection.host,
        "port": connection.port,
        "admin_username": connection.admin_username,
        "tls_insecure_skip_verify": connection.tls_insecure_skip_verify,
        "tls_ca_bundle_pem": connection.tls_ca_bundle_pem,
        "server_group_id": spec.server_group_id or None,
        "max_accounts": spec.max_accounts,
        "max_connections": spec.max_connections,
        "placement_order": spec.placement_order,
        "draining": spec.draining,
    }


def _target_changed(current: Server, updated: Server) -> bool:
    """Whether another Comet server, or the same as another admin, is reached (a new password is
    sealed afresh, so its ciphertext always differs)."""
    return current.admin_password_enc != updated.admin_password_enc or any(
        getattr(current, field) != getattr(updated, field) for field in TARGET_FIELDS
    )


def _named(server: Server) -> Server:
    """Messages about a server name it by its display name from now on (see comet_errors)."""
    name_server(server.id, server.display_name)
    return server
