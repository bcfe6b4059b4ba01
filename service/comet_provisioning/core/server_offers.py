"""What an operator asks a stored server for: the policy groups and storage providers a product
can choose from, and an admin session for single sign-on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from comet_provisioning.comet.client import CometClient
from comet_provisioning.comet.errors import CometError

from .comet_clients import ServerClients
from .comet_errors import to_service_error
from .errors import invalid_field

__all__ = ["ServerOffers"]


class ServerOffers:
    def __init__(self, clients: ServerClients) -> None:
        self._clients = clients

    async def _client(self, server_id: str) -> CometClient:
        if not server_id:
            raise invalid_field("server_id", "required")
        return await self._clients.client(server_id)

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
        client = await self._client(server_id)
        try:
            found = await fetch(client)
        except CometError as error:
            raise to_service_error(error, server_id) from error
        return sorted(found.items(), key=lambda item: (item[1].casefold(), item[0]))

    async def create_admin_session(
        self, server_id: str, *, timeout_s: float | None = None
    ) -> tuple[str, str, str]:
        """(session key, session type, base URL to open) for admin single sign-on."""
        client = await self._client(server_id)
        try:
            session = await client.start_admin_session(timeout_s=timeout_s)
        except CometError as error:
            raise to_service_error(error, server_id) from error
        return session.key, session.type, client.config.base_url
