"""ServerService: Comet servers and server groups, connection tests, and what servers offer."""

from __future__ import annotations

from comet_provisioning_client.v1 import common_pb2, servers_pb2, servers_pb2_grpc
from google.protobuf import duration_pb2

from comet_provisioning.core.connection import base_url
from comet_provisioning.core.models import (
    ConnectionSpec,
    Server,
    ServerGroup,
    ServerGroupSpec,
    ServerSpec,
    TlsSpec,
)
from comet_provisioning.core.server_checks import DEFAULT_TEST_TIMEOUT_S
from comet_provisioning.core.server_health import Health
from comet_provisioning.core.servers import ServerManager

from .convert import Context, enum_in, remaining_s, timestamp
from .idempotency import mutation, serialized

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


class ServerServicer(servers_pb2_grpc.ServerServiceServicer):
    def __init__(self, servers: ServerManager) -> None:
        self._servers = servers

    # -- servers ----------------------------------------------------------------------------------

    def _message(self, server: Server) -> servers_pb2.Server:
        return server_message(server, self._servers.health.health(server.id))

    def _health(self, server_id: str) -> servers_pb2.ServerHealth.ValueType:
        return servers_pb2.ServerHealth.Value("SERVER_HEALTH_" + self._servers.health.health(server_id).value)

    async def CreateServer(
        self, request: servers_pb2.CreateServerRequest, context: Context
    ) -> servers_pb2.CreateServerResponse:
        written = await self._servers.create(
            server_spec(request.server),
            mutation(_SERVICE + "CreateServer", request),
            lambda server: serialized(servers_pb2.CreateServerResponse(server=self._message(server))),
            allow_offline=request.allow_offline,
            timeout_s=remaining_s(context, DEFAULT_TEST_TIMEOUT_S, margin=0.5),
        )
        response = servers_pb2.CreateServerResponse.FromString(written.response)
        response.server.health = self._health(response.server.id)  # live, also on a replay
        return response

    async def GetServer(
        self, request: servers_pb2.GetServerRequest, context: Context
    ) -> servers_pb2.GetServerResponse:
        return servers_pb2.GetServerResponse(server=self._message(await self._servers.server(request.id)))

    async def ListServers(
        self, request: servers_pb2.ListServersRequest, context: Context
    ) -> servers_pb2.ListServersResponse:
        found, token = await self._servers.page(
            request.server_group_id, request.page_size, request.page_token
        )
        return servers_pb2.ListServersResponse(
            servers=[self._message(s) for s in found], next_page_token=token
        )

    async def UpdateServer(
        self, request: servers_pb2.UpdateServerRequest, context: Context
    ) -> servers_pb2.UpdateServerResponse:
        written = await self._servers.update(
            request.server.id,
            server_spec(request.server),
            list(request.update_mask.paths),
            mutation(_SERVICE + "UpdateServer", request),
            lambda server: serialized(servers_pb2.UpdateServerResponse(server=self._message(server))),
            allow_offline=request.allow_offline,
            timeout_s=remaining_s(context, DEFAULT_TEST_TIMEOUT_S, margin=0.5),
        )
        response = servers_pb2.UpdateServerResponse.FromString(written.response)
        response.server.health = self._health(response.server.id)
        return response

    async def DeleteServer(
        self, request: servers_pb2.DeleteServerRequest, context: Context
    ) -> servers_pb2.DeleteServerResponse:
        await self._servers.delete(request.id, mutation(_SERVICE + "DeleteServer", request))
        return servers_pb2.DeleteServerResponse()

    # -- Comet calls ------------------------------------------------------------------------------

    async def TestConnection(
        self, request: servers_pb2.TestConnectionRequest, context: Context
    ) -> servers_pb2.TestConnectionResponse:
        target = request.WhichOneof("target")
        result = await self._servers.checks.test_connection(
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
        found = await self._servers.offers.list_policy_groups(
            request.server_id, timeout_s=remaining_s(context, _COMET_CALL_TIMEOUT_S)
        )
        return servers_pb2.ListPolicyGroupsResponse(
            policy_groups=[servers_pb2.PolicyGroup(policy_id=pid, description=desc) for pid, desc in found]
        )

    async def ListStorageProviders(
        self, request: servers_pb2.ListStorageProvidersRequest, context: Context
    ) -> servers_pb2.ListStorageProvidersResponse:
        found = await self._servers.offers.list_storage_providers(
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
        key, kind, url = await self._servers.offers.create_admin_session(
            request.server_id, timeout_s=remaining_s(context, _COMET_CALL_TIMEOUT_S)
        )
        return servers_pb2.CreateAdminSessionResponse(session_key=key, session_type=kind, server_url=url)

    # -- groups -----------------------------------------------------------------------------------

    async def CreateServerGroup(
        self, request: servers_pb2.CreateServerGroupRequest, context: Context
    ) -> servers_pb2.CreateServerGroupResponse:
        written = await self._servers.groups.create(
            group_spec(request.server_group),
            mutation(_SERVICE + "CreateServerGroup", request),
            lambda group: serialized(
                servers_pb2.CreateServerGroupResponse(server_group=group_message(group))
            ),
        )
        return servers_pb2.CreateServerGroupResponse.FromString(written.response)

    async def GetServerGroup(
        self, request: servers_pb2.GetServerGroupRequest, context: Context
    ) -> servers_pb2.GetServerGroupResponse:
        group = await self._servers.groups.get(request.id)
        return servers_pb2.GetServerGroupResponse(server_group=group_message(group))

    async def ListServerGroups(
        self, request: servers_pb2.ListServerGroupsRequest, context: Context
    ) -> servers_pb2.ListServerGroupsResponse:
        found, token = await self._servers.groups.page(request.page_size, request.page_token)
        return servers_pb2.ListServerGroupsResponse(
            server_groups=[group_message(g) for g in found], next_page_token=token
        )

    async def UpdateServerGroup(
        self, request: servers_pb2.UpdateServerGroupRequest, context: Context
    ) -> servers_pb2.UpdateServerGroupResponse:
        written = await self._servers.groups.update(
            request.server_group.id,
            group_spec(request.server_group),
            list(request.update_mask.paths),
            mutation(_SERVICE + "UpdateServerGroup", request),
            lambda group: serialized(
                servers_pb2.UpdateServerGroupResponse(server_group=group_message(group))
            ),
        )
        return servers_pb2.UpdateServerGroupResponse.FromString(written.response)

    async def DeleteServerGroup(
        self, request: servers_pb2.DeleteServerGroupRequest, context: Context
    ) -> servers_pb2.DeleteServerGroupResponse:
        await self._servers.groups.delete(request.id, mutation(_SERVICE + "DeleteServerGroup", request))
        return servers_pb2.DeleteServerGroupResponse()
