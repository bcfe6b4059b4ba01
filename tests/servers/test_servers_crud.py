"""ServerService CRUD through real gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import grpc
from comet_provisioning.store import open_database, utcnow
from comet_provisioning.store.schema import accounts, servers
from comet_provisioning_client.v1 import servers_pb2
from google.protobuf import field_mask_pb2
from sqlalchemy import insert, select, update

from tests.fixtures.db import InProcessService, expect_error
from tests.servers.helpers import SECRET_PASSWORD, server, unique

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def create_group(
    svc: InProcessService, name: str | None = None, **kw: object
) -> servers_pb2.ServerGroup:
    reply = await svc.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(
            server_group=servers_pb2.ServerGroup(name=name or unique("group"), **kw)
        )  # type: ignore[arg-type]
    )
    return reply.server_group


async def test_server_create_get_list_update_delete(service: InProcessService) -> None:
    group = await create_group(service)
    created = (
        await service.servers.CreateServer(
            servers_pb2.CreateServerRequest(
                allow_offline=True,
                server=server(
                    "Primary", host="Comet.Example.com:8443", server_group_id=group.id, max_accounts=500
                ),
            )
        )
    ).server
    assert len(created.id) == 32
    assert created.display_name == "Primary"
    assert created.connection.host == "comet.example.com"
    assert created.connection.port == 8443
    assert created.connection.protocol == servers_pb2.PROTOCOL_HTTPS
    assert created.connection.admin_password == ""
    assert created.admin_password_set
    assert created.base_url == "https://comet.example.com:8443"
    assert created.server_group_id == group.id
    assert created.max_accounts == 500
    assert created.account_count == 0
    assert created.create_time.seconds > 0
    assert created.create_time == created.update_time

    got = (await service.servers.GetServer(servers_pb2.GetServerRequest(id=created.id))).server
    assert got == created
    listed = (await service.servers.ListServers(servers_pb2.ListServersRequest())).servers
    assert [s.id for s in listed] == [created.id]
    group_now = (
        await service.servers.GetServerGroup(servers_pb2.GetServerGroupRequest(id=group.id))
    ).server_group
    assert list(group_now.server_ids) == [created.id]

    changes = servers_pb2.Server(
        id=created.id,
        display_name="Primary renamed",
        max_accounts=999,  # not in the mask: ignored
        connection=servers_pb2.ServerConnection(protocol=servers_pb2.PROTOCOL_HTTP, port=8060),
    )
    updated = (
        await service.servers.UpdateServer(
            servers_pb2.UpdateServerRequest(
                server=changes,
                update_mask=mask("display_name", "connection.protocol", "connection.port"),
                allow_offline=True,
            )
        )
    ).server
    assert updated.display_name == "Primary renamed"
    assert updated.max_accounts == 500
    assert updated.base_url == "http://comet.example.com:8060"
    assert updated.connection.admin_username == "admin"
    assert updated.admin_password_set
    assert updated.update_time.ToDatetime() > created.update_time.ToDatetime()

    await service.servers.DeleteServer(servers_pb2.DeleteServerRequest(id=created.id))
    err = await expect_error(
        service.servers.GetServer(servers_pb2.GetServerRequest(id=created.id)), grpc.StatusCode.NOT_FOUND
    )
    assert err.reason == "SERVER_NOT_FOUND"
    assert err.metadata["id"] == created.id
    await expect_error(
        service.servers.DeleteServer(servers_pb2.DeleteServerRequest(id=created.id)),
        grpc.StatusCode.NOT_FOUND,
        "SERVER_NOT_FOUND",
    )


async def test_host_forms_like_the_original_module(service: InProcessService) -> None:
    cases = [
        ("https://comet.example.com", 0, servers_pb2.PROTOCOL_UNSPECIFIED, "https://comet.example.com:443"),
        ("http://10.0.0.5:8060/", 0, servers_pb2.PROTOCOL_UNSPECIFIED, "http://10.0.0.5:8060"),
        ("backup.example.net", 0, servers_pb2.PROTOCOL_HTTP, "http://backup.example.net:8060"),
        ("[2001:db8::1]:9000", 0, servers_pb2.PROTOCOL_HTTPS, "https://[2001:db8::1]:9000"),
        ("comet.example.org:8443", 8443, servers_pb2.PROTOCOL_HTTPS, "https://comet.example.org:8443"),
    ]
    for host, port, protocol, expected in cases:
        reply = await service.servers.CreateServer(
            servers_pb2.CreateServerRequest(
                allow_offline=True, server=server(host=host, port=port, protocol=protocol)
            )
        )
        assert reply.server.base_url == expected, host


async def test_every_bad_field_is_named_at_once_and_nothing_is_written(service: InProcessService) -> None:
    bad = servers_pb2.Server(
        display_name="x" * 101,
        connection=servers_pb2.ServerConnection(
            host="bad host!", port=70000, protocol=7, admin_username="", admin_password=""
        ),
        server_group_id="no-such-group",
        max_accounts=-1,
        max_connections=300,
    )
    err = await expect_error(
        service.servers.CreateServer(servers_pb2.CreateServerRequest(server=bad)), INVALID
    )
    assert err.reason == "INVALID_REQUEST"
    assert set(err.violations) == {
        "server.display_name",
        "server.connection.protocol",
        "server.connection.host",
        "server.connection.port",
        "server.connection.admin_username",
        "server.connection.admin_password",
        "server.server_group_id",
        "server.max_accounts",
        "server.max_connections",
    }
    missing = await expect_error(
        service.servers.CreateServer(servers_pb2.CreateServerRequest(server=servers_pb2.Server())), INVALID
    )
    assert {"server.display_name", "server.connection"} <= set(missing.violations)
    conflicting = await expect_error(
        service.servers.CreateServer(
            servers_pb2.CreateServerRequest(
                allow_offline=True,
                server=server(
                    host="http://h.example.com:8060", port=9000, protocol=servers_pb2.PROTOCOL_HTTPS
                ),
            )
        ),
        INVALID,
    )
    assert set(conflicting.violations) == {"server.connection.host", "server.connection.port"}
    assert not (await service.servers.ListServers(servers_pb2.ListServersRequest())).servers


async def test_duplicate_names_are_already_exists(service: InProcessService) -> None:
    first = (
        await service.servers.CreateServer(
            servers_pb2.CreateServerRequest(allow_offline=True, server=server("Same"))
        )
    ).server
    err = await expect_error(
        service.servers.CreateServer(
            servers_pb2.CreateServerRequest(allow_offline=True, server=server("Same"))
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "SERVER_ALREADY_EXISTS",
    )
    assert err.metadata["display_name"] == "Same"
    other = (
        await service.servers.CreateServer(
            servers_pb2.CreateServerRequest(allow_offline=True, server=server("Other"))
        )
    ).server
    await expect_error(
        service.servers.UpdateServer(
            servers_pb2.UpdateServerRequest(
                server=servers_pb2.Server(id=other.id, display_name="Same"), update_mask=mask("display_name")
            )
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "SERVER_ALREADY_EXISTS",
    )
    # Renaming a server to its own name is fine.
    await service.servers.UpdateServer(
        servers_pb2.UpdateServerRequest(
            server=servers_pb2.Server(id=first.id, display_name="Same"), update_mask=mask("display_name")
        )
    )
    await create_group(service, "G")
    await expect_error(
        create_group(service, "G"), grpc.StatusCode.ALREADY_EXISTS, "SERVER_GROUP_ALREADY_EXISTS"
    )


async def test_update_mask_paths_are_checked(service: InProcessService) -> None:
    created = (
        await service.servers.CreateServer(
            servers_pb2.CreateServerRequest(allow_offline=True, server=server())
        )
    ).server
    err = await expect_error(
        service.servers.UpdateServer(
            servers_pb2.UpdateServerRequest(
                server=servers_pb2.Server(id=created.id),
                update_mask=mask("id", "base_url", "bogus", "max_accounts"),
            )
        ),
        INVALID,
        "INVALID_UPDATE_MASK",
    )
    assert err.fields == ["update_mask"] * 3
    assert "'id'" in err.message
    assert "'base_url'" in err.message
    assert "'bogus'" in err.message
    await expect_error(
        service.servers.UpdateServer(
            servers_pb2.UpdateServerRequest(server=servers_pb2.Server(id=created.id))
        ),
        INVALID,
        "INVALID_UPDATE_MASK",
    )
    # Naming the password explicitly with an empty value is an error, not a silent clear.
    err = await expect_error(
        service.servers.UpdateServer(
            servers_pb2.UpdateServerRequest(
                server=servers_pb2.Server(id=created.id), update_mask=mask("connection.admin_password")
            )
        ),
        INVALID,
    )
    assert set(err.violations) == {"server.connection.admin_password"}
    await expect_error(
        service.servers.UpdateServer(
            servers_pb2.UpdateServerRequest(
                server=servers_pb2.Server(id="0" * 32, display_name="x"), update_mask=mask("display_name")
            )
        ),
        grpc.StatusCode.NOT_FOUND,
        "SERVER_NOT_FOUND",
    )


async def test_groups_order_pages_and_membership(service: InProcessService) -> None:
    names = [f"group-{i}" for i in (3, 1, 4, 0, 2)]
    for name in names:
        await create_group(service, name)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        reply = await service.servers.ListServerGroups(
            servers_pb2.ListServerGroupsRequest(page_size=2, page_token=token)
        )
        seen += [g.name for g in reply.server_groups]
        pages += 1
        token = reply.next_page_token
        if not token:
            break
    assert seen == sorted(names)
    assert pages == 3

    group = await create_group(service, "placement", placement_rule=servers_pb2.PLACEMENT_RULE_FILL_IN_ORDER)
    assert group.placement_rule == servers_pb2.PLACEMENT_RULE_FILL_IN_ORDER
    ids = {}
    for order, name in ((2, "c"), (0, "a"), (1, "b")):
        reply = await service.servers.CreateServer(
            servers_pb2.CreateServerRequest(
                allow_offline=True, server=server(name, server_group_id=group.id, placement_order=order)
            )
        )
        ids[name] = reply.server.id
    got = (await service.servers.GetServerGroup(servers_pb2.GetServerGroupRequest(id=group.id))).server_group
    assert list(got.server_ids) == [ids["a"], ids["b"], ids["c"]]
    in_group = await service.servers.ListServers(
        servers_pb2.ListServersRequest(server_group_id=group.id, page_size=2)
    )
    assert [s.display_name for s in in_group.servers] == ["a", "b"]
    # A token belongs to its list and filter.
    await expect_error(
        service.servers.ListServers(servers_pb2.ListServersRequest(page_token=in_group.next_page_token)),
        INVALID,
    )
    await expect_error(
        service.servers.ListServers(servers_pb2.ListServersRequest(page_token="garbage!")), INVALID
    )
    rest = await service.servers.ListServers(
        servers_pb2.ListServersRequest(server_group_id=group.id, page_token=in_group.next_page_token)
    )
    assert [s.display_name for s in rest.servers] == ["c"]
    assert rest.next_page_token == ""

    updated = (
        await service.servers.UpdateServerGroup(
            servers_pb2.UpdateServerGroupRequest(
                server_group=servers_pb2.ServerGroup(
                    id=group.id, name="renamed", failover=True, placement_rule=1
                ),
                update_mask=mask("name", "failover"),
            )
        )
    ).server_group
    assert (updated.name, updated.failover, updated.placement_rule) == (
        "renamed",
        True,
        servers_pb2.PLACEMENT_RULE_FILL_IN_ORDER,
    )
    await expect_error(
        service.servers.UpdateServerGroup(
            servers_pb2.UpdateServerGroupRequest(
                server_group=servers_pb2.ServerGroup(id=group.id), update_mask=mask("server_ids")
            )
        ),
        INVALID,
        "INVALID_UPDATE_MASK",
    )
    # Deleting an unused group detaches its servers.
    await service.servers.DeleteServerGroup(servers_pb2.DeleteServerGroupRequest(id=group.id))
    left = (await service.servers.GetServer(servers_pb2.GetServerRequest(id=ids["a"]))).server
    assert left.server_group_id == ""
    await expect_error(
        service.servers.GetServerGroup(servers_pb2.GetServerGroupRequest(id=group.id)),
        grpc.StatusCode.NOT_FOUND,
        "SERVER_GROUP_NOT_FOUND",
    )


async def test_servers_holding_accounts_cannot_be_deleted(service: InProcessService) -> None:
    group = await create_group(service)
    created = (
        await service.servers.CreateServer(
            servers_pb2.CreateServerRequest(allow_offline=True, server=server(server_group_id=group.id))
        )
    ).server
    db = open_database(service.settings.database_url)
    try:
        async with db.transaction() as conn:
            now = utcnow()
            await conn.execute(
                insert(accounts).values(
                    id="a" * 32, server_id=created.id, status="ACTIVE", create_time=now, update_time=now
                )
            )
        got = (await service.servers.GetServer(servers_pb2.GetServerRequest(id=created.id))).server
        assert got.account_count == 1
        err = await expect_error(
            service.servers.DeleteServer(servers_pb2.DeleteServerRequest(id=created.id)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "SERVER_HAS_ACCOUNTS",
        )
        assert err.metadata["account_count"] == "1"
        await expect_error(
            service.servers.DeleteServerGroup(servers_pb2.DeleteServerGroupRequest(id=group.id)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "SERVER_GROUP_HAS_ACCOUNTS",
        )
        async with db.transaction() as conn:
            await conn.execute(update(accounts).values(status="TERMINATED"))
        got = (await service.servers.GetServer(servers_pb2.GetServerRequest(id=created.id))).server
        assert got.account_count == 0
        await service.servers.DeleteServer(servers_pb2.DeleteServerRequest(id=created.id))
        async with db.read() as conn:
            assert (await conn.execute(select(accounts.c.server_id))).scalar_one() is None
            assert (await conn.execute(select(servers.c.id))).first() is None
    finally:
        await db.close()


async def test_create_is_idempotent_by_request_id(service: InProcessService) -> None:
    request = servers_pb2.CreateServerRequest(allow_offline=True, server=server("Idem"), request_id="req-1")
    first = await service.servers.CreateServer(request)
    again = await service.servers.CreateServer(request)
    assert again == first
    err = await expect_error(
        service.servers.CreateServer(
            servers_pb2.CreateServerRequest(allow_offline=True, server=server("Other"), request_id="req-1")
        ),
        INVALID,
        "REQUEST_ID_REUSED",
    )
    assert err.violations.keys() == {"request_id"}
    # Concurrent twins: one server, one answer.
    twin = servers_pb2.CreateServerRequest(allow_offline=True, server=server("Twin"), request_id="req-2")
    replies = await asyncio.gather(*(service.servers.CreateServer(twin) for _ in range(20)))
    assert len({r.server.id for r in replies}) == 1
    listed = (await service.servers.ListServers(servers_pb2.ListServersRequest())).servers
    assert sorted(s.display_name for s in listed) == ["Idem", "Twin"]
    # A delete replayed with its request id answers as the first time did.
    delete = servers_pb2.DeleteServerRequest(id=first.server.id, request_id="del-1")
    await service.servers.DeleteServer(delete)
    await service.servers.DeleteServer(delete)


async def test_concurrent_writers(service: InProcessService) -> None:
    """Hundreds of concurrent writes: no "database is locked", exactly one winner per name."""
    replies = await asyncio.gather(
        *(
            service.servers.CreateServerGroup(
                servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name=f"g{i:03d}"))
            )
            for i in range(200)
        )
    )
    assert len({r.server_group.id for r in replies}) == 200
    same = await asyncio.gather(
        *(
            service.servers.CreateServerGroup(
                servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="contended"))
            )
            for _ in range(30)
        ),
        return_exceptions=True,
    )
    winners = [r for r in same if isinstance(r, servers_pb2.CreateServerGroupResponse)]
    losers = [r for r in same if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1
    assert len(losers) == 29
    assert {e.code() for e in losers} == {grpc.StatusCode.ALREADY_EXISTS}


async def test_password_is_never_returned(service: InProcessService) -> None:
    created = await service.servers.CreateServer(
        servers_pb2.CreateServerRequest(allow_offline=True, server=server())
    )
    got = await service.servers.GetServer(servers_pb2.GetServerRequest(id=created.server.id))
    listed = await service.servers.ListServers(servers_pb2.ListServersRequest())
    updated = await service.servers.UpdateServer(
        servers_pb2.UpdateServerRequest(
            server=servers_pb2.Server(
                id=created.server.id,
                connection=servers_pb2.ServerConnection(admin_password=SECRET_PASSWORD + "2"),
            ),
            update_mask=mask("connection.admin_password"),
            allow_offline=True,
        )
    )
    for reply in (created, got, listed, updated):
        assert SECRET_PASSWORD.encode() not in reply.SerializeToString()
