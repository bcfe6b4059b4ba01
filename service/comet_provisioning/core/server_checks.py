"""What is asked of Comet before a server's details are saved: the connection test (also the
TestConnection call), and whether a server joining a group (or reached anew) offers what the
group's products use. Writes nothing but a saved server's Comet version."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from comet_provisioning.comet.client import CometClient
from comet_provisioning.comet.errors import CometError

from .clock import utcnow
from .comet_clients import ServerClients
from .connection import base_url
from .connection_test import ConnectionTest, refused, run_test
from .errors import ErrorKind, ServiceError, Violations
from .models import ConnectionSpec, Server, describe
from .product_checks import CHECKED_SETTINGS, problems_on, unreachable, unsupported
from .server_fields import CheckedConnection, check_connection
from .unit_of_work import Store

__all__ = ["DEFAULT_TEST_TIMEOUT_S", "ServerChecks"]

DEFAULT_TEST_TIMEOUT_S = 15.0


class ServerChecks:
    def __init__(
        self, load: Callable[[str], Awaitable[Server]], store: Store, clients: ServerClients
    ) -> None:
        self._load = load
        self._store = store
        self._clients = clients

    def draft(
        self, checked: CheckedConnection, display_name: str = "", group_id: str | None = None
    ) -> Server:
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
            admin_password_enc=self._clients.box.encrypt(checked.admin_password, bound_to=""),
            tls_insecure_skip_verify=checked.tls_insecure_skip_verify,
            tls_ca_bundle_pem=checked.tls_ca_bundle_pem,
            server_group_id=group_id,
            max_accounts=0,
            max_connections=1,
            placement_order=0,
            create_time=now,
            update_time=now,
        )

    async def _test(self, server: Server, timeout_s: float) -> ConnectionTest:
        timeout_s = max(timeout_s, 0.1)
        config = self._clients.comet_config(
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
            checked = check_connection(connection, violations, "connection", password_required=True)
            violations.raise_if_any()
            return await self._test(self.draft(checked), timeout_s)
        if not server_id:
            raise ServiceError(
                ErrorKind.INVALID_ARGUMENT,
                "INVALID_REQUEST",
                "name a saved server (server_id) or unsaved connection details (connection)",
                violations=[],
                metadata={"fields": "server_id,connection"},
            )
        server = await self._load(server_id)
        result = await self._test(server, timeout_s)
        if result.ok:
            self._clients.health.succeeded(server.id)
            await self._clients.record_version(server.id, result.version)
        elif result.transient:
            self._clients.health.failed(server.id)
        return result

    async def new_server(self, draft: Server, *, allow_offline: bool, timeout_s: float) -> ConnectionTest:
        """Tests a server to register; a failed test is FAILED_PRECONDITION unless
        `allow_offline`; one that passed must offer what its group's products use."""
        result = await self._test(draft, timeout_s)
        if not result.ok and not allow_offline:
            raise refused(repr(draft.display_name), result, {"display_name": draft.display_name})
        if result.ok:
            await self._offers_products(draft, timeout_s=timeout_s)
        return result

    async def changed_server(
        self, current: Server, updated: Server, *, target_changed: bool, allow_offline: bool, timeout_s: float
    ) -> ConnectionTest | None:
        """Tests the connection details an update would save, if it changes them (None otherwise);
        a failed test is FAILED_PRECONDITION unless `allow_offline`."""
        joins = updated.server_group_id is not None and updated.server_group_id != current.server_group_id
        if not target_changed:
            if joins:
                await self._offers_products(updated, timeout_s=timeout_s, allow_offline=allow_offline)
            return None
        result = await self._test(updated, timeout_s)
        if not result.ok and not allow_offline:
            raise refused(
                describe(updated), result, {"server_id": updated.id, "display_name": updated.display_name}
            )
        if result.ok and updated.server_group_id is not None:
            await self._offers_products(updated, timeout_s=timeout_s)  # another Comet server, maybe
        return result

    @staticmethod
    def keeps_version(updated: Server, tested: ConnectionTest | None) -> Server:
        """An updated server with new connection details: the Comet version `tested` found there,
        or none until it is reached."""
        known = (
            tested is not None
            and tested.ok
            and tested.base_url == base_url(updated.protocol, updated.host, updated.port)
        )
        return dataclasses.replace(
            updated,
            comet_version=tested.version if tested is not None and known else "",
            comet_version_time=updated.update_time if known else None,
        )

    async def _offers_products(
        self, server: Server, *, timeout_s: float, allow_offline: bool = False
    ) -> None:
        """A server joining a group (or reached anew) must offer what the group's products use;
        one that cannot be asked joins only with `allow_offline`."""
        if server.server_group_id is None:
            return
        async with self._store.read() as uow:
            products = await uow.products.in_group(server.server_group_id)
        if not products:
            return
        config = self._clients.comet_config(server, max_connections=1, request_timeout_s=max(timeout_s, 0.1))
        try:
            async with CometClient(config) as client:
                problems = await problems_on(client, server, products, timeout_s=timeout_s)
        except CometError as error:
            if allow_offline:
                return
            raise unreachable(server, error) from error
        if problems:
            raise unsupported(problems, field_of=dict.fromkeys(CHECKED_SETTINGS, "server.server_group_id"))
