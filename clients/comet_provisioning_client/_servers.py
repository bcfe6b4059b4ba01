"""Typed helpers for ServerService: Comet servers, server groups, and what a server offers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from google.protobuf import field_mask_pb2

from ._base import ClientBase
from .results import Deleted, ServerGroupResult, ServerResult
from .v1 import servers_pb2

__all__ = ["ServerHelpers"]


def _mask(fields: Iterable[str]) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(fields))


class ServerHelpers(ClientBase):
    # -- servers ----------------------------------------------------------------------------------

    async def create_server(
        self,
        server: servers_pb2.Server,
        *,
        allow_offline: bool = False,
        request_id: str = "",
        timeout_s: float | None = None,
    ) -> ServerResult:
        """Registers a Comet server (its connection is tested first unless `allow_offline`)."""
        request = servers_pb2.CreateServerRequest(
            server=server, allow_offline=allow_offline, request_id=request_id
        )
        reply = await self.invoke(self.servers.CreateServer, request, timeout_s=timeout_s)
        return ServerResult(reply.response.server, reply.request_id)

    async def get_server(self, server_id: str, *, timeout_s: float | None = None) -> servers_pb2.Server:
        request = servers_pb2.GetServerRequest(id=server_id)
        return (await self.call(self.servers.GetServer, request, timeout_s=timeout_s)).server

    def list_servers(
        self, *, server_group_id: str = "", page_size: int = 100, timeout_s: float | None = None
    ) -> AsyncIterator[servers_pb2.Server]:
        return self._pages(
            self.servers.ListServers,
            lambda token: servers_pb2.ListServersRequest(
                page_size=page_size, page_token=token, server_group_id=server_group_id
            ),
            lambda page: page.servers,
            timeout_s,
        )

    async def update_server(
        self,
        server: servers_pb2.Server,
        fields: Iterable[str],
        *,
        allow_offline: bool = False,
        request_id: str = "",
        timeout_s: float | None = None,
    ) -> ServerResult:
        """Changes the `fields` (mask paths, e.g. "display_name", "connection.host") of `server.id`."""
        request = servers_pb2.UpdateServerRequest(
            server=server, update_mask=_mask(fields), allow_offline=allow_offline, request_id=request_id
        )
        reply = await self.invoke(self.servers.UpdateServer, request, timeout_s=timeout_s)
        return ServerResult(reply.response.server, reply.request_id)

    async def delete_server(
        self, server_id: str, *, request_id: str = "", timeout_s: float | None = None
    ) -> Deleted:
        request = servers_pb2.DeleteServerRequest(id=server_id, request_id=request_id)
        reply = await self.invoke(self.servers.DeleteServer, request, timeout_s=timeout_s)
        return Deleted(reply.request_id)

    async def test_connection(
        self,
        target: str | servers_pb2.ServerConnection,
        *,
        timeout_s: float | None = None,
    ) -> servers_pb2.TestConnectionResponse:
        """Tests a registered server (by id) or connection details before registering them."""
        request = (
            servers_pb2.TestConnectionRequest(server_id=target)
            if isinstance(target, str)
            else servers_pb2.TestConnectionRequest(connection=target)
        )
        return await self.call(self.servers.TestConnection, request, timeout_s=timeout_s)

    async def list_policy_groups(
        self, server_id: str, *, timeout_s: float | None = None
    ) -> list[servers_pb2.PolicyGroup]:
        request = servers_pb2.ListPolicyGroupsRequest(server_id=server_id)
        response = await self.call(self.servers.ListPolicyGroups, request, timeout_s=timeout_s)
        return list(response.policy_groups)

    async def list_storage_providers(
        self, server_id: str, *, timeout_s: float | None = None
    ) -> list[servers_pb2.StorageProvider]:
        request = servers_pb2.ListStorageProvidersRequest(server_id=server_id)
        response = await self.call(self.servers.ListStorageProviders, request, timeout_s=timeout_s)
        return list(response.storage_providers)

    # -- server groups ----------------------------------------------------------------------------

    async def create_server_group(
        self, server_group: servers_pb2.ServerGroup, *, request_id: str = "", timeout_s: float | None = None
    ) -> ServerGroupResult:
        request = servers_pb2.CreateServerGroupRequest(server_group=server_group, request_id=request_id)
        reply = await self.invoke(self.servers.CreateServerGroup, request, timeout_s=timeout_s)
        return ServerGroupResult(reply.response.server_group, reply.request_id)

    async def get_server_group(
        self, server_group_id: str, *, timeout_s: float | None = None
    ) -> servers_pb2.ServerGroup:
        request = servers_pb2.GetServerGroupRequest(id=server_group_id)
        return (await self.call(self.servers.GetServerGroup, request, timeout_s=timeout_s)).server_group

    def list_server_groups(
        self, *, page_size: int = 100, timeout_s: float | None = None
    ) -> AsyncIterator[servers_pb2.ServerGroup]:
        return self._pages(
            self.servers.ListServerGroups,
            lambda token: servers_pb2.ListServerGroupsRequest(page_size=page_size, page_token=token),
            lambda page: page.server_groups,
            timeout_s,
        )

    async def update_server_group(
        self,
        server_group: servers_pb2.ServerGroup,
        fields: Iterable[str],
        *,
        request_id: str = "",
        timeout_s: float | None = None,
    ) -> ServerGroupResult:
        request = servers_pb2.UpdateServerGroupRequest(
            server_group=server_group, update_mask=_mask(fields), request_id=request_id
        )
        reply = await self.invoke(self.servers.UpdateServerGroup, request, timeout_s=timeout_s)
        return ServerGroupResult(reply.response.server_group, reply.request_id)

    async def delete_server_group(
        self, server_group_id: str, *, request_id: str = "", timeout_s: float | None = None
    ) -> Deleted:
        request = servers_pb2.DeleteServerGroupRequest(id=server_group_id, request_id=request_id)
        reply = await self.invoke(self.servers.DeleteServerGroup, request, timeout_s=timeout_s)
        return Deleted(reply.request_id)
