"""A product is checked against every server of its group when it is created or its module
settings change: the storage provider, an EXISTING policy group, RequirePasswordChange's version.
A refused product is not saved, and no order ever reaches Comet with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import catalog_pb2 as C
from comet_provisioning_client.v1 import servers_pb2
from google.protobuf import field_mask_pb2

from tests.fixtures.db import InProcessService, expect_error, in_process_service, service_settings
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD
from tests.servers.helpers import sim_server


@pytest.fixture
async def svc(sqlite_url: str, tmp_path: Path) -> AsyncIterator[InProcessService]:
    async with in_process_service(service_settings(sqlite_url, tmp_path / "data")) as running:
        yield running


async def group_with(svc: InProcessService, *sims: CometSimulator) -> tuple[str, list[servers_pb2.Server]]:
    group = (
        await svc.servers.CreateServerGroup(
            servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="EU"))
        )
    ).server_group
    members = []
    for index, sim in enumerate(sims):
        assert sim.base_url is not None
        message = sim_server(sim.base_url, SIM_PASSWORD, name=f"eu-{index + 1}")
        message.server_group_id = group.id
        members.append(
            (await svc.servers.CreateServer(servers_pb2.CreateServerRequest(server=message))).server
        )
    return group.id, members


def product(group_id: str, name: str = "Backup", **settings: object) -> C.Product:
    return C.Product(
        name=name,
        currency_code="EUR",
        module_settings=C.ModuleSettings(server_group_id=group_id, **settings),  # type: ignore[arg-type]
    )


async def names(svc: InProcessService) -> list[str]:
    return [p.name for p in (await svc.catalog.ListProducts(C.ListProductsRequest())).products]


async def test_a_storage_provider_no_server_offers_is_refused(
    svc: InProcessService, comet_sim: CometSimulator
) -> None:
    group_id, (server,) = await group_with(svc, comet_sim)
    err = await expect_error(
        svc.catalog.CreateProduct(
            C.CreateProductRequest(product=product(group_id, storage_provider_id="BOGUS"))
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "STORAGE_PROVIDER_NOT_FOUND",
    )
    assert err.metadata["server_id"] == server.id
    assert err.metadata["server_name"] == "eu-1"
    assert f"'eu-1' ({server.id})" in err.message
    assert "'BOGUS'" in err.message
    assert set(err.violations) == {"product.module_settings.storage_provider_id"}
    assert await names(svc) == []
    offered = next(iter(comet_sim.state.providers))
    created = await svc.catalog.CreateProduct(
        C.CreateProductRequest(product=product(group_id, storage_provider_id=offered))
    )
    assert created.product.module_settings.storage_provider_id == offered


async def test_every_server_of_the_group_is_asked(svc: InProcessService, comet_sim: CometSimulator) -> None:
    async with CometSimulator(admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD, version="20.3.0") as old:
        comet_sim.state.seed_provider("b2-eu", "B2 Europe")
        comet_sim.state.seed_policy("gold", description="Gold")
        group_id, (_, second) = await group_with(svc, comet_sim, old)
        err = await expect_error(
            svc.catalog.CreateProduct(
                C.CreateProductRequest(
                    product=product(
                        group_id,
                        storage_provider_id="b2-eu",
                        policy_group_mode=C.POLICY_GROUP_MODE_EXISTING,
                        policy_id="gold",
                        require_password_change=True,
                    )
                )
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "STORAGE_PROVIDER_NOT_FOUND",
        )
        # Every problem of the second server, named; none of the first, which has them all.
        assert err.metadata["server_id"] == second.id
        assert err.metadata["problems"] == "3"
        assert set(err.violations) == {
            "product.module_settings.storage_provider_id",
            "product.module_settings.policy_id",
            "product.module_settings.require_password_change",
        }
        assert "'eu-1'" not in err.message
        assert "runs Comet 20.3.0" in err.message
        assert await names(svc) == []


async def test_require_password_change_needs_comet_20_3_4(svc: InProcessService) -> None:
    async with CometSimulator(admin_user=SIM_ADMIN, admin_password=SIM_PASSWORD, version="20.3.0") as sim:
        group_id, _ = await group_with(svc, sim)
        err = await expect_error(
            svc.catalog.CreateProduct(
                C.CreateProductRequest(product=product(group_id, require_password_change=True))
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "COMET_VERSION_TOO_OLD",
        )
        assert "20.3.4" in err.message
        sim.state.set_version("20.3.4")
        await svc.catalog.CreateProduct(
            C.CreateProductRequest(product=product(group_id, require_password_change=True))
        )


async def test_an_existing_policy_group_must_exist(svc: InProcessService, comet_sim: CometSimulator) -> None:
    group_id, _ = await group_with(svc, comet_sim)
    await expect_error(
        svc.catalog.CreateProduct(
            C.CreateProductRequest(
                product=product(group_id, policy_group_mode=C.POLICY_GROUP_MODE_EXISTING, policy_id="missing")
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "POLICY_GROUP_NOT_FOUND",
    )
    comet_sim.state.seed_policy("silver", description="Silver")
    await svc.catalog.CreateProduct(
        C.CreateProductRequest(
            product=product(group_id, policy_group_mode=C.POLICY_GROUP_MODE_EXISTING, policy_id="silver")
        )
    )


async def test_an_update_is_checked_only_when_it_changes_what_servers_decide(
    svc: InProcessService, comet_sim: CometSimulator
) -> None:
    group_id, _ = await group_with(svc, comet_sim)
    offered = next(iter(comet_sim.state.providers))
    created = (
        await svc.catalog.CreateProduct(
            C.CreateProductRequest(product=product(group_id, storage_provider_id=offered))
        )
    ).product
    bogus = C.Product(id=created.id, module_settings=C.ModuleSettings(storage_provider_id="BOGUS"))
    await expect_error(
        svc.catalog.UpdateProduct(
            C.UpdateProductRequest(
                product=bogus,
                update_mask=field_mask_pb2.FieldMask(paths=["module_settings.storage_provider_id"]),
            )
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
        "STORAGE_PROVIDER_NOT_FOUND",
    )
    got = (await svc.catalog.GetProduct(C.GetProductRequest(id=created.id))).product
    assert got.module_settings.storage_provider_id == offered
    comet_sim.counters.reset()
    renamed = await svc.catalog.UpdateProduct(
        C.UpdateProductRequest(
            product=C.Product(id=created.id, name="Renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        )
    )
    assert renamed.product.name == "Renamed"
    assert sum(comet_sim.counters.calls.values()) == 0  # nothing to ask the servers


async def test_a_server_that_cannot_be_asked_blocks_the_save(
    svc: InProcessService, comet_sim: CometSimulator
) -> None:
    group_id, (server,) = await group_with(svc, comet_sim)
    await comet_sim.stop()
    err = await expect_error(
        svc.catalog.CreateProduct(
            C.CreateProductRequest(product=product(group_id, storage_provider_id="anything")), timeout=30
        ),
        grpc.StatusCode.UNAVAILABLE,
        "COMET_UNREACHABLE",
    )
    assert err.metadata["server_id"] == server.id
    assert f"'eu-1' ({server.id})" in err.message
    assert await names(svc) == []
