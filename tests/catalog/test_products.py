"""CatalogService through real gRPC on SQLite and PostgreSQL: products, options, quotes."""

from __future__ import annotations

import grpc
import pytest
from comet_provisioning.store import open_database, utcnow
from comet_provisioning.store.schema import accounts, products
from comet_provisioning_client.v1 import catalog_pb2 as C
from comet_provisioning_client.v1 import servers_pb2
from google.protobuf import field_mask_pb2, json_format
from sqlalchemy import func, insert, select, update

from tests.fixtures.db import InProcessService, expect_error

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def option(key: str, **kw: object) -> C.ConfigurableOption:
    return C.ConfigurableOption(key=key, **kw)  # type: ignore[arg-type]


def product(group_id: str, name: str = "Backup Pro", **kw: object) -> C.Product:
    fields: dict[str, object] = {
        "name": name,
        "description": "Cloud backup\nwith a vault",
        "currency_code": "USD",
        "base_price_minor": 500,
        "module_settings": C.ModuleSettings(server_group_id=group_id),
        "options": [
            option(
                "number_of_devices", min_quantity=1, max_quantity=10, default_quantity=2, unit_price_minor=100
            ),
            option("storage_vault_quota_gb", min_quantity=50, max_quantity=1000, unit_price_minor=3),
            option("protected_item_quota_tb", min_quantity=1, max_quantity=1, hidden=True),
        ],
    }
    fields.update(kw)
    return C.Product(**fields)  # type: ignore[arg-type]


@pytest.fixture
async def group_id(service: InProcessService) -> str:
    reply = await service.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="Default"))
    )
    return reply.server_group.id


async def test_product_crud(service: InProcessService, group_id: str) -> None:
    created = (await service.catalog.CreateProduct(C.CreateProductRequest(product=product(group_id)))).product
    assert len(created.id) == 32
    assert created.module_settings.policy_group_mode == C.POLICY_GROUP_MODE_NONE
    assert created.module_settings.setup_mode == C.SETUP_MODE_ON_ORDER
    assert [(o.key, o.label, o.unit, o.default_quantity) for o in created.options] == [
        ("number_of_devices", "Devices", "Devices", 2),
        ("storage_vault_quota_gb", "Initial Storage Vault Quota (GB)", "GB", 50),
        ("protected_item_quota_tb", "Protected Items Quota (TB)", "TB", 1),
    ]
    assert created.options[2].hidden
    assert created.description == "Cloud backup\nwith a vault"
    got = (await service.catalog.GetProduct(C.GetProductRequest(id=created.id))).product
    assert got == created

    updated = (
        await service.catalog.UpdateProduct(
            C.UpdateProductRequest(
                product=C.Product(
                    id=created.id,
                    base_price_minor=900,
                    module_settings=C.ModuleSettings(
                        policy_group_mode=C.POLICY_GROUP_MODE_EXISTING,
                        policy_id="policy-gold",
                        setup_mode=C.SETUP_MODE_MANUAL,
                    ),
                    options=[option("protected_item_quota_gb", max_quantity=500, label="Backup size")],
                ),
                update_mask=field_mask_pb2.FieldMask(
                    paths=[
                        "base_price_minor",
                        "module_settings.policy_group_mode",
                        "module_settings.policy_id",
                        "module_settings.setup_mode",
                        "options",
                    ]
                ),
            )
        )
    ).product
    assert updated.base_price_minor == 900
    assert updated.name == created.name
    assert updated.module_settings.server_group_id == group_id
    assert updated.module_settings.policy_id == "policy-gold"
    assert updated.module_settings.setup_mode == C.SETUP_MODE_MANUAL
    assert [(o.key, o.label, o.unit) for o in updated.options] == [
        ("protected_item_quota_gb", "Backup size", "GB")
    ]

    await service.catalog.CreateProduct(C.CreateProductRequest(product=product(group_id, name="Another")))
    page1 = await service.catalog.ListProducts(C.ListProductsRequest(page_size=1))
    page2 = await service.catalog.ListProducts(
        C.ListProductsRequest(page_size=1, page_token=page1.next_page_token)
    )
    assert [p.name for p in (*page1.products, *page2.products)] == ["Another", "Backup Pro"]
    assert page2.next_page_token == ""

    await service.catalog.DeleteProduct(C.DeleteProductRequest(id=created.id))
    await expect_error(
        service.catalog.GetProduct(C.GetProductRequest(id=created.id)),
        grpc.StatusCode.NOT_FOUND,
        "PRODUCT_NOT_FOUND",
    )


async def test_every_rule_is_checked_at_once(service: InProcessService, group_id: str) -> None:
    bad = C.Product(
        name="",
        description="d" * 1001,
        currency_code="usd",
        base_price_minor=-1,
        module_settings=C.ModuleSettings(
            server_group_id="missing", policy_group_mode=C.POLICY_GROUP_MODE_NONE, policy_id="p", setup_mode=9
        ),
        options=[
            option("number_of_devices", min_quantity=5, max_quantity=2),
            option("bogus_key", max_quantity=1),
            option("storage_vault_quota_gb", max_quantity=10),
            option("storage_vault_quota_tb", max_quantity=10),
            option("protected_item_quota_gb", min_quantity=-1, max_quantity=10, default_quantity=11),
            option("protected_item_quota_tb", max_quantity=1, unit_price_minor=-5, label="x" * 101),
            option("number_of_devices", max_quantity=1),
        ],
    )
    err = await expect_error(service.catalog.CreateProduct(C.CreateProductRequest(product=bad)), INVALID)
    assert set(err.fields) == {
        "product.name",
        "product.description",
        "product.currency_code",
        "product.base_price_minor",
        "product.module_settings.server_group_id",
        "product.module_settings.policy_id",
        "product.module_settings.setup_mode",
        "product.options[0].max_quantity",
        "product.options[1].key",
        "product.options[3].key",
        "product.options[4].min_quantity",
        "product.options[4].default_quantity",
        "product.options[5].key",
        "product.options[5].unit_price_minor",
        "product.options[5].label",
        "product.options[6].key",
    }
    assert "GB or the TB" in err.violations["product.options[3].key"]
    missing = await expect_error(
        service.catalog.CreateProduct(
            C.CreateProductRequest(
                product=C.Product(
                    name="n",
                    currency_code="EUR",
                    module_settings=C.ModuleSettings(
                        server_group_id=group_id, policy_group_mode=C.POLICY_GROUP_MODE_EXISTING
                    ),
                )
            )
        ),
        INVALID,
    )
    assert set(missing.fields) == {"product.module_settings.policy_id"}
    no_settings = await expect_error(
        service.catalog.CreateProduct(
            C.CreateProductRequest(product=C.Product(name="n", currency_code="EUR"))
        ),
        INVALID,
    )
    assert set(no_settings.fields) == {"product.module_settings"}
    assert not (await service.catalog.ListProducts(C.ListProductsRequest())).products


async def test_update_keeps_every_rule_and_rejects_bad_masks(
    service: InProcessService, group_id: str
) -> None:
    created = (await service.catalog.CreateProduct(C.CreateProductRequest(product=product(group_id)))).product
    err = await expect_error(
        service.catalog.UpdateProduct(
            C.UpdateProductRequest(
                product=C.Product(id=created.id, options=[option("storage_vault_quota_tb", max_quantity=2)]),
                update_mask=field_mask_pb2.FieldMask(paths=["account_count", "options.key", "nope"]),
            )
        ),
        INVALID,
        "INVALID_UPDATE_MASK",
    )
    assert len(err.fields) == 3
    # Switching mode to EXISTING without a policy id is caught on the merged product.
    err = await expect_error(
        service.catalog.UpdateProduct(
            C.UpdateProductRequest(
                product=C.Product(
                    id=created.id,
                    module_settings=C.ModuleSettings(policy_group_mode=C.POLICY_GROUP_MODE_EXISTING),
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["module_settings.policy_group_mode"]),
            )
        ),
        INVALID,
    )
    assert set(err.fields) == {"product.module_settings.policy_id"}
    await service.catalog.CreateProduct(C.CreateProductRequest(product=product(group_id, name="Taken")))
    await expect_error(
        service.catalog.UpdateProduct(
            C.UpdateProductRequest(
                product=C.Product(id=created.id, name="Taken"),
                update_mask=field_mask_pb2.FieldMask(paths=["name"]),
            )
        ),
        grpc.StatusCode.ALREADY_EXISTS,
        "PRODUCT_ALREADY_EXISTS",
    )
    assert (await service.catalog.GetProduct(C.GetProductRequest(id=created.id))).product == created


async def test_products_in_use_and_their_group_cannot_be_deleted(
    service: InProcessService, group_id: str
) -> None:
    created = (await service.catalog.CreateProduct(C.CreateProductRequest(product=product(group_id)))).product
    await expect_error(
        service.servers.DeleteServerGroup(servers_pb2.DeleteServerGroupRequest(id=group_id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "SERVER_GROUP_IN_USE",
    )
    db = open_database(service.settings.database_url)
    try:
        async with db.transaction() as conn:
            now = utcnow()
            await conn.execute(
                insert(accounts),
                [
                    {
                        "id": f"{i:032x}",
                        "product_id": created.id,
                        "status": status,
                        "create_time": now,
                        "update_time": now,
                    }
                    for i, status in enumerate(["ACTIVE", "SUSPENDED", "TERMINATED", "PENDING"])
                ],
            )
        assert (
            await service.catalog.GetProduct(C.GetProductRequest(id=created.id))
        ).product.account_count == 3
        err = await expect_error(
            service.catalog.DeleteProduct(C.DeleteProductRequest(id=created.id)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "PRODUCT_IN_USE",
        )
        assert err.metadata["account_count"] == "3"
        async with db.transaction() as conn:
            await conn.execute(update(accounts).values(status="TERMINATED"))
        await service.catalog.DeleteProduct(C.DeleteProductRequest(id=created.id))
        await service.servers.DeleteServerGroup(servers_pb2.DeleteServerGroupRequest(id=group_id))
        async with db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(products))).scalar_one() == 0
            assert (await conn.execute(select(func.count()).select_from(accounts))).scalar_one() == 4
    finally:
        await db.close()


async def test_quote_order(service: InProcessService, group_id: str) -> None:
    created = (await service.catalog.CreateProduct(C.CreateProductRequest(product=product(group_id)))).product
    quote = await service.catalog.QuoteOrder(
        C.QuoteOrderRequest(
            product_id=created.id, quantities={"number_of_devices": 5, "storage_vault_quota_gb": 200}
        )
    )
    assert quote.currency_code == "USD"
    assert quote.base_price_minor == 500
    assert [
        (line.key, line.label, line.quantity, line.unit_price_minor, line.amount_minor)
        for line in quote.lines
    ] == [
        ("number_of_devices", "Devices", 5, 100, 500),
        ("storage_vault_quota_gb", "Initial Storage Vault Quota (GB)", 200, 3, 600),
        ("protected_item_quota_tb", "Protected Items Quota (TB)", 1, 0, 0),
    ]
    assert quote.total_minor == 500 + 500 + 600
    defaults = await service.catalog.QuoteOrder(C.QuoteOrderRequest(product_id=created.id))
    assert [line.quantity for line in defaults.lines] == [2, 50, 1]
    assert defaults.total_minor == 500 + 200 + 150

    err = await expect_error(
        service.catalog.QuoteOrder(
            C.QuoteOrderRequest(
                product_id=created.id,
                quantities={
                    "number_of_devices": 11,
                    "storage_vault_quota_gb": 49,
                    "protected_item_quota_tb": 2,
                    "x": 1,
                },
            )
        ),
        INVALID,
        "INVALID_QUANTITIES",
    )
    assert set(err.fields) == {
        "quantities[number_of_devices]",
        "quantities[storage_vault_quota_gb]",
        "quantities[protected_item_quota_tb]",
        "quantities[x]",
    }
    await expect_error(
        service.catalog.QuoteOrder(
            C.QuoteOrderRequest(product_id=created.id, quantities={"number_of_devices": -1})
        ),
        INVALID,
    )
    await expect_error(
        service.catalog.QuoteOrder(C.QuoteOrderRequest(product_id="0" * 32)),
        grpc.StatusCode.NOT_FOUND,
        "PRODUCT_NOT_FOUND",
    )
    await expect_error(service.catalog.QuoteOrder(C.QuoteOrderRequest()), INVALID)


async def test_quote_order_takes_options_like_every_other_call_and_still_accepts_quantities(
    service: InProcessService, group_id: str
) -> None:
    created = (await service.catalog.CreateProduct(C.CreateProductRequest(product=product(group_id)))).product
    chosen = {"number_of_devices": 5, "storage_vault_quota_gb": 200}
    by_options = await service.catalog.QuoteOrder(C.QuoteOrderRequest(product_id=created.id, options=chosen))
    assert by_options.total_minor == 500 + 500 + 600
    # A caller written against the old name, in JSON as grpcurl sends it, gets the same quote.
    old_json = json_format.ParseDict({"product_id": created.id, "quantities": chosen}, C.QuoteOrderRequest())
    assert await service.catalog.QuoteOrder(old_json) == by_options
    both_agree = C.QuoteOrderRequest(product_id=created.id, options=chosen, quantities=chosen)
    assert await service.catalog.QuoteOrder(both_agree) == by_options

    err = await expect_error(
        service.catalog.QuoteOrder(
            C.QuoteOrderRequest(product_id=created.id, options=chosen, quantities={"number_of_devices": 6})
        ),
        INVALID,
        "CONFLICTING_OPTIONS",
    )
    assert err.fields == ["quantities"]
    err = await expect_error(
        service.catalog.QuoteOrder(C.QuoteOrderRequest(product_id=created.id, options={"x": 1})),
        INVALID,
        "INVALID_QUANTITIES",
    )
    assert err.fields == ["options[x]"]


async def test_create_product_idempotent(service: InProcessService, group_id: str) -> None:
    request = C.CreateProductRequest(product=product(group_id), request_id="order-42")
    first = await service.catalog.CreateProduct(request)
    assert await service.catalog.CreateProduct(request) == first
    await expect_error(
        service.catalog.CreateProduct(
            C.CreateProductRequest(product=product(group_id, name="Other"), request_id="order-42")
        ),
        INVALID,
        "REQUEST_ID_REUSED",
    )
    # The same request id on another method is a different key.
    other = await service.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(
            server_group=servers_pb2.ServerGroup(name="G2"), request_id="order-42"
        )
    )
    assert other.server_group.name == "G2"
    assert len((await service.catalog.ListProducts(C.ListProductsRequest())).products) == 1
