"""ServerService: Comet servers and server groups, connection tests, and what servers offer."""

from __future__ import annotations

from comet_provisioning_client.v1 import common_pb2, servers_pb2
from google.protobuf import duration_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.core.connection import base_url
from comet_provisioning.core.models import (
    ConnectionSpec,
    Server,
    ServerGroup,
    ServerGroupSpec,
    ServerSpec,
    TlsSpec,
)
from comet_provisioning.core.server_health import Health
from comet_provisioning.core.servers import DEFAULT_TEST_TIMEOUT_S, ServerManager
from comet_provisioning.crypto import SecretBox

from .convert import Context, enum_in, remaining_s, timestamp
from .idempotency import idempotent, unless_replayed
from .servicers import PendingServerService

__all__ = ["ServerServicer", "connection_spec", "server_message", "server_spec"]

_SERVICE = "/comet.provisioning.v1.ServerService/"
_COMET_CALL_TIMEOUT_S = 30.0


def connection_spec(message: servers_pb2.ServerConnection) -> ConnectionSpec:
    return ConnectionSpec(
        protocol=enum_in(servers_pb2.Protocol, message.protocol, "PROTOCOL_"),
        host=message.host,
        port=message.port,
        admin_username=message.admin_username,
        admin_password=message.admin_password,
        tls=TlsSpec(message.tls.insecure_skip_verify, message.tls.ca_bundle_pem),
    )


def server_spec(message: servers_pb2.Server) -> ServerSpec:
    return ServerSpec(
        display_name=message.display_name,
        connection=connection_spec(message.connection) if message.HasField("connection") else None,
        server_group_id=message.server_group_id,
        max_accounts=message.max_accounts,
        max_connections=message.max_connections,
        placement_order=message.placement_order,
        draining=message.draining,
    )


def server_message(server: Server, health: Health = Health.UNSPECIFIED) -> servers_pb2.Server:
    """The public view of a server: never the password, only whether one is stored."""
    message = servers_pb2.Server(
        id=server.id,
        display_name=server.display_name,
        connection=servers_pb2.ServerConnection(
            protocol=servers_pb2.Protocol.Value("PROTOCOL_" + server.protocol.upper()),
            host=server.host,
            port=server.port,
            admin_username=server.admin_username,
            tls=common_pb2.TlsOptions(
                insecure_skip_verify=server.tls_insecure_skip_verify, ca_bundle_pem=server.tls_ca_bundle_pem
            ),
        ),
        server_group_id=server.server_group_id or "",
        max_accounts=server.max_accounts,
        max_connections=server.max_connections,
        placement_order=server.placement_order,
        base_url=base_url(server.protocol, server.host, server.port),
        account_count=server.account_count,
        admin_password_set=bool(server.admin_password_enc),
        create_time=timestamp(server.create_time),
        update_time=timestamp(server.update_time),
        comet_version=server.comet_version,
        draining=server.draining,
        health=servers_pb2.ServerHealth.Value("SERVER_HEALTH_" + health.value),
    )
    if server.comet_version_time is not None:
        message.comet_version_time.CopyFrom(timestamp(server.comet_version_time))
    return message


def group_spec(message: servers_pb2.ServerGroup) -> ServerGroupSpec:
    return ServerGroupSpec(
        name=message.name,
        placement_rule=enum_in(servers_pb2.PlacementRule, message.placement_rule, "PLACEMENT_RULE_"),
        failover=message.failover,
    )


def group_message(group: ServerGroup) -> servers_pb2.ServerGroup:
    return servers_pb2.ServerGroup(
        id=group.id,
        name=group.name,
        placement_rule=servers_pb2.PlacementRule.Value("PLACEMENT_RULE_" + group.placement_rule),
        failover=group.failover,
        server_ids=group.server_ids,
        create_time=timestamp(group.create_time),
        update_time=timestamp(group.update_time),
    )


class ServerServicer(PendingServerService):
    def __init__(self, manager: ServerManager, box: SecretBox) -> None:
        self.manager = manager
        self.db = manager.db
        self.box = box

    # -- servers ----------------------------------------------------------------------------------

    def _message(self, server: Server) -> servers_pb2.Server:
        return server_message(server, self.manager.health.health(server.id))

    def _health(self, server_id: str) -> servers_pb2.ServerHealth.ValueType:
        return servers_pb2.ServerHealth.Value("SERVER_HEALTH_" + self.manager.health.health(server_id).value)

    async def CreateServer(
        self, request: servers_pb2.CreateServerRequest, context: Context
    ) -> servers_pb2.CreateServerResponse:
        spec = server_spec(request.server)
        # Before the transaction: a slow Comet server must not hold the store's write lock.
        tested = await unless_replayed(
            self.db,
            _SERVICE + "CreateServer",
            request.request_id,
            lambda: self.manager.verify_new(
                spec,
                allow_offline=request.allow_offline,
                timeout_s=remaining_s(context, DEFAULT_TEST_TIMEOUT_S, margin=0.5),
            ),
        )
        created: list[Server] = []

        async def work(conn: AsyncConnection) -> servers_pb2.CreateServerResponse:
            server = await self.manager.create_server(conn, spec, tested=tested)
            created.append(server)
            return servers_pb2.CreateServerResponse(server=self._message(server))

        response = await idempotent(
            self.db, self.box, _SERVICE + "CreateServer", request, servers_pb2.CreateServerResponse, work
        )
        if created:
            await self.manager.saved(created[-1].id, tested, pool_changed=False)
        response.server.health = self._health(response.server.id)  # live, also on a replay
        return response

    async def GetServer(
        self, request: servers_pb2.GetServerRequest, context: Context
    ) -> servers_pb2.GetServerResponse:
        async with self.db.read() as conn:
            server = await self.manager.get_server(conn, request.id)
        return servers_pb2.GetServerResponse(server=self._message(server))

    async def ListServers(
        self, request: servers_pb2.ListServersRequest, context: Context
    ) -> servers_pb2.ListServersResponse:
        async with self.db.read() as conn:
            found, token = await self.manager.list_servers(
                conn,
                group_id=request.server_group_id,
                page_size=request.page_size,
                page_token=request.page_token,
            )
        return servers_pb2.ListServersResponse(
            servers=[self._message(s) for s in found], next_page_token=token
        )

    async def UpdateServer(
        self, request: servers_pb2.UpdateServerRequest, context: Context
    ) -> servers_pb2.UpdateServerResponse:
        spec = server_spec(request.server)
        mask = list(request.update_mask.paths)
        tested = await unless_replayed(
            self.db,
            _SERVICE + "UpdateServer",
            request.request_id,
            lambda: self.manager.verify_update(
                request.server.id,
                spec,
                mask,
                allow_offline=request.allow_offline,
                timeout_s=remaining_s(context, DEFAULT_TEST_TIMEOUT_S, margin=0.5),
            ),
        )
        changed: list[bool] = []

        async def work(conn: AsyncConnection) -> servers_pb2.UpdateServerResponse:
            updated, pool_changed = await self.manager.update_server(
                conn, request.server.id, spec, mask, tested=tested
            )
            changed.append(pool_changed)
            return servers_pb2.UpdateServerResponse(server=self._message(updated))

        response = await idempotent(
            self.db, self.box, _SERVICE + "UpdateServer", request, servers_pb2.UpdateServerResponse, work
        )
        if changed:  # the next call opens a new pool; the health is that of the new details
            await self.manager.saved(request.server.id, tested, pool_changed=changed[-1])
        response.server.health = self._health(response.server.id)
        return response

    async def DeleteServer(
        self, request: servers_pb2.DeleteServerRequest, context: Context
    ) -> servers_pb2.DeleteServerResponse:
        async def work(conn: AsyncConnection) -> servers_pb2.DeleteServerResponse:
            await self.manager.delete_server(conn, request.id)
            return servers_pb2.DeleteServerResponse()

        response = await idempotent(
            self.db, self.box, _SERVICE + "DeleteServer", request, servers_pb2.DeleteServerResponse, work
        )
        await self.manager.forget_client(request.id)
        return response

    # -- Comet calls ------------------------------------------------------------------------------

    async def TestConnection(
        self, request: servers_pb2.TestConnectionRequest, context: Context
    ) -> servers_pb2.TestConnectionResponse:
        target = request.WhichOneof("target")
        result = await self.manager.test_connection(
            server_id=request.server_id if target == "server_id" else "",
            connection=connection_spec(request.connection) if target == "connection" else None,
            timeout_s=remaining_s(context, DEFAULT_TEST_TIMEOUT_S, margin=0.5),
        )
        rtt = duration_pb2.Duration()
        rtt.FromNanoseconds(int(result.round_trip_s * 1e9))
        return servers_pb2.TestConnectionResponse(
            ok=result.ok,
            failure=servers_pb2.ConnectionFailure.Value(
                "CONNECTION_FAILURE_" + (result.failure or "UNSPECIFIED")
            ),
            message=result.message,
            comet_version=result.version,
            version_codename=result.codename,
            roles=list(result.roles),
            round_trip_time=rtt,
        )

    async def ListPolicyGroups(
        self, request: servers_pb2.ListPolicyGroupsRequest, context: Context
    ) -> servers_pb2.ListPolicyGroupsResponse:
        found = await self.manager.list_policy_groups(
            request.server_id, timeout_s=remaining_s(context, _COMET_CALL_TIMEOUT_S)
        )
        return servers_pb2.ListPolicyGroupsResponse(
            policy_groups=[servers_pb2.PolicyGroup(policy_id=pid, description=desc) for pid, desc in found]
        )

    async def ListStorageProviders(
        self, request: servers_pb2.ListStorageProvidersRequest, context: Context
    ) -> servers_pb2.ListStorageProvidersResponse:
        found = await self.manager.list_storage_providers(
            request.server_id, timeout_s=remaining_s(context, _COMET_CALL_TIMEOUT_S)
        )
        return servers_pb2.ListStorageProvidersResponse(
            storage_providers=[
                servers_pb2.StorageProvider(provider_id=pid, description=desc) for pid, desc in found
            ]
        )

    async def CreateAdminSession(
        self, request: servers_pb2.CreateAdminSessionRequest, context: Context
    ) -> servers_pb2.CreateAdminSessionResponse:
        key, kind, url = await self.manager.create_admin_session(
            request.server_id, timeout_s=remaining_s(context, _COMET_CALL_TIMEOUT_S)
        )
        return servers_pb2.CreateAdminSessionResponse(session_key=key, session_type=kind, server_url=url)

    # -- groups -----------------------------------------------------------------------------------

    async def CreateServerGroup(
        self, request: servers_pb2.CreateServerGroupRequest, context: Context
    ) -> servers_pb2.CreateServerGroupResponse:
        spec = group_spec(request.server_group)

        async def work(conn: AsyncConnection) -> servers_pb2.CreateServerGroupResponse:
            created = await self.manager.create_group(conn, spec)
            return servers_pb2.CreateServerGroupResponse(server_group=group_message(created))

        return await idempotent(
            self.db,
            self.box,
            _SERVICE + "CreateServerGroup",
            request,
            servers_pb2.CreateServerGroupResponse,
            work,
        )

    async def GetServerGroup(
        self, request: servers_pb2.GetServerGroupRequest, context: Context
    ) -> servers_pb2.GetServerGroupResponse:
        async with self.db.read() as conn:
            group = await self.manager.get_group(conn, request.id)
        return servers_pb2.GetServerGroupResponse(server_group=group_message(group))

    async def ListServerGroups(
        self, request: servers_pb2.ListServerGroupsRequest, context: Context
    ) -> servers_pb2.ListServerGroupsResponse:
        async with self.db.read() as conn:
            found, token = await self.manager.list_groups(
                conn, page_size=request.page_size, page_token=request.page_token
            )
        return servers_pb2.ListServerGroupsResponse(
            server_groups=[group_message(g) for g in found], next_page_token=token
        )

    async def UpdateServerGroup(
        self, request: servers_pb2.UpdateServerGroupRequest, context: Context
    ) -> servers_pb2.UpdateServerGroupResponse:
        spec = group_spec(request.server_group)

        async def work(conn: AsyncConnection) -> servers_pb2.UpdateServerGroupResponse:
            updated = await self.manager.update_group(
                conn, request.server_group.id, spec, list(request.update_mask.paths)
            )
            return servers_pb2.UpdateServerGroupResponse(server_group=group_message(updated))

        return await idempotent(
            self.db,
            self.box,
            _SERVICE + "UpdateServerGroup",
            request,
            servers_pb2.UpdateServerGroupResponse,
            work,
        )

    async def DeleteServerGroup(
        self, request: servers_pb2.DeleteServerGroupRequest, context: Context
    ) -> servers_pb2.DeleteServerGroupResponse:
        async def work(conn: AsyncConnection) -> servers_pb2.DeleteServerGroupResponse:
            await self.manager.delete_group(conn, request.id)
            return servers_pb2.DeleteServerGroupResponse()

        return await idempotent(
            self.db,
            self.box,
            _SERVICE + "DeleteServerGroup",
            request,
            servers_pb2.DeleteServerGroupResponse,
            work,
        )
