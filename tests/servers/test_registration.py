"""Registering and changing a server tests its connection first (nothing is saved when it fails,
unless allow_offline says so), learns its Comet version, and shows it with its health."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import catalog_pb2, servers_pb2
from google.protobuf import field_mask_pb2

from tests.fixtures.db import InProcessService, expect_error, in_process_service, service_settings
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD
from tests.servers.helpers import sim_server

F = servers_pb2


@pytest.fixture
async def svc(sqlite_url: str, tmp_path: Path) -> AsyncIterator[InProcessService]:
    async with in_process_service(service_settings(sqlite_url, tmp_path / "data")) as running:
        yield running


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def listed(svc: InProcessService) -> list[F.Server]:
    return list((await svc.servers.ListServers(F.ListServersRequest())).servers)


async def test_an_unreachable_server_is_refused_unless_registered_offline_on_purpose(
    svc: InProcessService,
) -> None:
    dead = sim_server(f"http://127.0.0.1:{closed_port()}", SIM_PASSWORD, name="Frankfurt 2")
    err = await expect_error(
        svc.servers.CreateServer(F.CreateServerRequest(server=dead)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SERVER_CONNECTION_FAILED",
    )
    assert err.metadata["failure"] == "UNREACHABLE"
    assert err.metadata["display_name"] == "Frankfurt 2"
    assert "'Frankfurt 2'" in err.message
    assert "allow_offline" in err.message
    assert await listed(svc) == []

    created = (await svc.servers.CreateServer(F.CreateServerRequest(server=dead, allow_offline=True))).server
    assert created.display_name == "Frankfurt 2"
    assert created.comet_version == ""
    assert not created.HasField("comet_version_time")
    assert created.health == F.SERVER_HEALTH_DOWN  # placement tries it last until a probe finds it
    got = (await svc.servers.GetServer(F.GetServerRequest(id=created.id))).server
    assert got.health == F.SERVER_HEALTH_DOWN


async def test_refused_credentials_are_refused_too(svc: InProcessService, comet_sim: CometSimulator) -> None:
    assert comet_sim.base_url is not None
    err = await expect_error(
        svc.servers.CreateServer(
            F.CreateServerRequest(server=sim_server(comet_sim.base_url, "wrong-password"))
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SERVER_CONNECTION_FAILED",
    )
    assert err.metadata["failure"] == "BAD_CREDENTIALS"
    assert "wrong-password" not in err.message
    assert await listed(svc) == []


async def test_the_comet_version_is_learned_at_registration_update_and_test(
    svc: InProcessService, comet_sim: CometSimulator
) -> None:
    assert comet_sim.base_url is not None
    created = (
        await svc.servers.CreateServer(
            F.CreateServerRequest(server=sim_server(comet_sim.base_url, SIM_PASSWORD))
        )
    ).server
    assert created.comet_version == comet_sim.state.version.text
    assert created.HasField("comet_version_time")
    assert created.health == F.SERVER_HEALTH_UP
    got = (await svc.servers.GetServer(F.GetServerRequest(id=created.id))).server
    assert (got.comet_version, got.comet_version_time) == (created.comet_version, created.comet_version_time)
    assert [s.comet_version for s in await listed(svc)] == [comet_sim.state.version.text]

    # The server is upgraded; a test of the saved server notices.
    comet_sim.state.set_version("24.12.3")
    tested = await svc.servers.TestConnection(F.TestConnectionRequest(server_id=created.id))
    assert tested.comet_version == "24.12.3"
    got = (await svc.servers.GetServer(F.GetServerRequest(id=created.id))).server
    assert got.comet_version == "24.12.3"

    # New connection details: tested before they are saved, and the version is theirs.
    async with CometSimulator(admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD, version="22.6.7") as old:
        assert old.base_url is not None
        moved = (
            await svc.servers.UpdateServer(
                F.UpdateServerRequest(
                    server=F.Server(
                        id=created.id,
                        connection=F.ServerConnection(host=old.base_url.removeprefix("http://")),
                    ),
                    update_mask=mask("connection.host"),
                )
            )
        ).server
        assert moved.comet_version == "22.6.7"
        assert moved.base_url == old.base_url
    # A rename changes nothing that needs a test, even with the server gone.
    renamed = (
        await svc.servers.UpdateServer(
            F.UpdateServerRequest(
                server=F.Server(id=created.id, display_name="renamed"), update_mask=mask("display_name")
            )
        )
    ).server
    assert (renamed.display_name, renamed.comet_version) == ("renamed", "22.6.7")


async def test_connection_changes_that_fail_their_test_are_not_saved(
    svc: InProcessService, comet_sim: CometSimulator
) -> None:
    assert comet_sim.base_url is not None
    created = (
        await svc.servers.CreateServer(
            F.CreateServerRequest(server=sim_server(comet_sim.base_url, SIM_PASSWORD))
        )
    ).server
    change = F.UpdateServerRequest(
        server=F.Server(id=created.id, connection=F.ServerConnection(admin_password="not-the-password")),
        update_mask=mask("connection.admin_password"),
    )
    err = await expect_error(
        svc.servers.UpdateServer(change), grpc.StatusCode.FAILED_PRECONDITION, "SERVER_CONNECTION_FAILED"
    )
    assert err.metadata["server_id"] == created.id
    assert f"({created.id})" in err.message
    assert "not-the-password" not in err.message
    # Still the working password: calls go on.
    assert (
        await svc.servers.ListStorageProviders(F.ListStorageProvidersRequest(server_id=created.id))
    ).storage_providers
    # Saved on purpose: the version of the old details is no longer claimed.
    change.allow_offline = True
    saved = (await svc.servers.UpdateServer(change)).server
    assert saved.comet_version == ""
    await expect_error(
        svc.servers.ListStorageProviders(F.ListStorageProvidersRequest(server_id=created.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "COMET_AUTH_FAILED",
    )


async def test_a_server_joining_a_group_must_offer_what_its_products_use(
    svc: InProcessService, comet_sim: CometSimulator
) -> None:
    assert comet_sim.base_url is not None
    comet_sim.state.seed_provider("b2-eu", "B2 Europe")
    group = (
        await svc.servers.CreateServerGroup(F.CreateServerGroupRequest(server_group=F.ServerGroup(name="EU")))
    ).server_group
    first = sim_server(comet_sim.base_url, SIM_PASSWORD, name="eu-1")
    first.server_group_id = group.id
    await svc.servers.CreateServer(F.CreateServerRequest(server=first))
    await svc.catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(
            product=catalog_pb2.Product(
                name="EU backup",
                currency_code="EUR",
                module_settings=catalog_pb2.ModuleSettings(
                    server_group_id=group.id, storage_provider_id="b2-eu"
                ),
            )
        )
    )
    async with CometSimulator(admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD) as bare:
        assert bare.base_url is not None
        second = sim_server(bare.base_url, SIM_PASSWORD, name="eu-2")
        second.server_group_id = group.id
        err = await expect_error(
            svc.servers.CreateServer(F.CreateServerRequest(server=second)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "STORAGE_PROVIDER_NOT_FOUND",
        )
        assert "'EU backup'" in err.message
        assert "'eu-2'" in err.message
        assert set(err.violations) == {"server.server_group_id"}
        # Outside the group it is fine; moving it in is checked the same way.
        second.server_group_id = ""
        created = (await svc.servers.CreateServer(F.CreateServerRequest(server=second))).server
        await expect_error(
            svc.servers.UpdateServer(
                F.UpdateServerRequest(
                    server=F.Server(id=created.id, server_group_id=group.id),
                    update_mask=mask("server_group_id"),
                )
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "STORAGE_PROVIDER_NOT_FOUND",
        )
        bare.state.seed_provider("b2-eu", "B2 Europe")
        joined = (
            await svc.servers.UpdateServer(
                F.UpdateServerRequest(
                    server=F.Server(id=created.id, server_group_id=group.id),
                    update_mask=mask("server_group_id"),
                )
            )
        ).server
        assert joined.server_group_id == group.id


async def test_a_replayed_create_is_not_tested_again(
    svc: InProcessService, comet_sim: CometSimulator
) -> None:
    assert comet_sim.base_url is not None
    request = F.CreateServerRequest(server=sim_server(comet_sim.base_url, SIM_PASSWORD), request_id="srv-77")
    first = await svc.servers.CreateServer(request)
    await comet_sim.stop()
    again = await svc.servers.CreateServer(request)  # the server is down now; the outcome stands
    assert again.server.id == first.server.id
    assert len(await listed(svc)) == 1
