"""Everything survives a restart of the service; the admin password never sits in the file in clear."""

from __future__ import annotations

from pathlib import Path

from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import catalog_pb2, servers_pb2

from tests.fixtures.db import in_process_service, service_settings
from tests.fixtures.sim import SIM_PASSWORD
from tests.servers.helpers import sim_server


async def test_state_survives_a_restart(database_url: str, tmp_path: Path, comet_sim: CometSimulator) -> None:
    settings = service_settings(database_url, tmp_path / "data")
    assert comet_sim.base_url is not None
    async with in_process_service(settings) as svc:
        group = (
            await svc.servers.CreateServerGroup(
                servers_pb2.CreateServerGroupRequest(
                    server_group=servers_pb2.ServerGroup(name="EU", failover=True)
                )
            )
        ).server_group
        request = sim_server(comet_sim.base_url, SIM_PASSWORD, name="eu-1")
        request.server_group_id = group.id
        server = (await svc.servers.CreateServer(servers_pb2.CreateServerRequest(server=request))).server
        product = (
            await svc.catalog.CreateProduct(
                catalog_pb2.CreateProductRequest(
                    product=catalog_pb2.Product(
                        name="Backup",
                        currency_code="EUR",
                        module_settings=catalog_pb2.ModuleSettings(server_group_id=group.id),
                        options=[catalog_pb2.ConfigurableOption(key="number_of_devices", max_quantity=5)],
                    ),
                    request_id="create-backup",
                )
            )
        ).product
        group = (
            await svc.servers.GetServerGroup(servers_pb2.GetServerGroupRequest(id=group.id))
        ).server_group

    async with in_process_service(settings) as svc:
        # Health is what this process has seen of the server: nothing yet after a restart.
        server.ClearField("health")
        assert (await svc.servers.GetServer(servers_pb2.GetServerRequest(id=server.id))).server == server
        assert (
            await svc.servers.GetServerGroup(servers_pb2.GetServerGroupRequest(id=group.id))
        ).server_group == group
        assert (await svc.catalog.GetProduct(catalog_pb2.GetProductRequest(id=product.id))).product == product
        # The stored password still decrypts with the same key...
        test = await svc.servers.TestConnection(servers_pb2.TestConnectionRequest(server_id=server.id))
        assert test.ok, test.message
        # ...and the idempotency record outlived the restart.
        replay = await svc.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                product=catalog_pb2.Product(
                    name="Backup",
                    currency_code="EUR",
                    module_settings=catalog_pb2.ModuleSettings(server_group_id=group.id),
                    options=[catalog_pb2.ConfigurableOption(key="number_of_devices", max_quantity=5)],
                ),
                request_id="create-backup",
            )
        )
        assert replay.product.id == product.id


async def test_password_not_in_the_database_file(sqlite_url: str, tmp_path: Path) -> None:
    password = "Very-Distinctive-Admin-Pw-93xQ"
    settings = service_settings(sqlite_url, tmp_path / "data")
    async with in_process_service(settings) as svc:
        request = sim_server("http://127.0.0.1:8060", password, name="at-rest")
        created = (
            await svc.servers.CreateServer(
                servers_pb2.CreateServerRequest(server=request, allow_offline=True)
            )
        ).server
        assert password.encode() not in created.SerializeToString()
        await svc.servers.TestConnection(
            servers_pb2.TestConnectionRequest(connection=request.connection), timeout=5
        )
    database = Path(sqlite_url.removeprefix("sqlite+aiosqlite:///"))
    files = [p for p in database.parent.iterdir() if p.name.startswith(database.name)]
    assert database in files
    for path in files:
        data = path.read_bytes()
        assert password.encode() not in data, path
        assert password.encode("utf-16-le") not in data, path
