"""CatalogService: products (module settings and configurable options) and order quotes."""

from __future__ import annotations

from comet_provisioning_client.v1 import catalog_pb2
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.core.catalog import chosen_options, unit_for
from comet_provisioning.core.models import ModuleSettingsSpec, OptionSpec, Product, ProductSpec
from comet_provisioning.core.products import ProductManager
from comet_provisioning.crypto import SecretBox
from comet_provisioning.store import Database

from .convert import Context, enum_in, remaining_s, timestamp
from .idempotency import idempotent, unless_replayed
from .servicers import PendingCatalogService

__all__ = ["CatalogServicer", "product_message", "product_spec"]

_SERVICE = "/comet.provisioning.v1.CatalogService/"
_CHECK_TIMEOUT_S = 15.0  # for asking the servers of a product's group what they offer


def product_spec(message: catalog_pb2.Product) -> ProductSpec:
    settings = message.module_settings
    return ProductSpec(
        name=message.name,
        description=message.description,
        currency_code=message.currency_code,
        base_price_minor=message.base_price_minor,
        module_settings=ModuleSettingsSpec(
            server_group_id=settings.server_group_id,
            policy_group_mode=enum_in(
                catalog_pb2.PolicyGroupMode, settings.policy_group_mode, "POLICY_GROUP_MODE_"
            ),
            policy_id=settings.policy_id,
            storage_provider_id=settings.storage_provider_id,
            require_password_change=settings.require_password_change,
            setup_mode=enum_in(catalog_pb2.SetupMode, settings.setup_mode, "SETUP_MODE_"),
        )
        if message.HasField("module_settings")
        else None,
        options=[
            OptionSpec(
                key=option.key,
                label=option.label,
                min_quantity=option.min_quantity,
                max_quantity=option.max_quantity,
                default_quantity=option.default_quantity,
                unit_price_minor=option.unit_price_minor,
                hidden=option.hidden,
            )
            for option in message.options
        ],
    )


def product_message(product: Product) -> catalog_pb2.Product:
    return catalog_pb2.Product(
        id=product.id,
        name=product.name,
        description=product.description,
        currency_code=product.currency_code,
        base_price_minor=product.base_price_minor,
        module_settings=catalog_pb2.ModuleSettings(
            server_group_id=product.server_group_id,
            policy_group_mode=catalog_pb2.PolicyGroupMode.Value(
                "POLICY_GROUP_MODE_" + product.policy_group_mode
            ),
            policy_id=product.policy_id,
            storage_provider_id=product.storage_provider_id,
            require_password_change=product.require_password_change,
            setup_mode=catalog_pb2.SetupMode.Value("SETUP_MODE_" + product.setup_mode),
        ),
        options=[
            catalog_pb2.ConfigurableOption(
                key=option.key,
                label=option.label,
                unit=unit_for(option.key),
                min_quantity=option.min_quantity,
                max_quantity=option.max_quantity,
                default_quantity=option.default_quantity,
                unit_price_minor=option.unit_price_minor,
                hidden=option.hidden,
            )
            for option in product.options
        ],
        account_count=product.account_count,
        create_time=timestamp(product.create_time),
        update_time=timestamp(product.update_time),
    )


class CatalogServicer(PendingCatalogService):
    def __init__(self, manager: ProductManager, db: Database, box: SecretBox) -> None:
        self.manager = manager
        self.db = db
        self.box = box

    async def CreateProduct(
        self, request: catalog_pb2.CreateProductRequest, context: Context
    ) -> catalog_pb2.CreateProductResponse:
        spec = product_spec(request.product)
        # Asks every server of the group, before the transaction (no write lock held meanwhile).
        await unless_replayed(
            self.db,
            _SERVICE + "CreateProduct",
            request.request_id,
            lambda: self.manager.verify_new(
                spec, timeout_s=remaining_s(context, _CHECK_TIMEOUT_S, margin=0.5)
            ),
        )

        async def work(conn: AsyncConnection) -> catalog_pb2.CreateProductResponse:
            created = await self.manager.create_product(conn, spec)
            return catalog_pb2.CreateProductResponse(product=product_message(created))

        return await idempotent(
            self.db, self.box, _SERVICE + "CreateProduct", request, catalog_pb2.CreateProductResponse, work
        )

    async def GetProduct(
        self, request: catalog_pb2.GetProductRequest, context: Context
    ) -> catalog_pb2.GetProductResponse:
        async with self.db.read() as conn:
            product = await self.manager.get_product(conn, request.id)
        return catalog_pb2.GetProductResponse(product=product_message(product))

    async def ListProducts(
        self, request: catalog_pb2.ListProductsRequest, context: Context
    ) -> catalog_pb2.ListProductsResponse:
        async with self.db.read() as conn:
            found, token = await self.manager.list_products(
                conn, page_size=request.page_size, page_token=request.page_token
            )
        return catalog_pb2.ListProductsResponse(
            products=[product_message(p) for p in found], next_page_token=token
        )

    async def UpdateProduct(
        self, request: catalog_pb2.UpdateProductRequest, context: Context
    ) -> catalog_pb2.UpdateProductResponse:
        spec = product_spec(request.product)
        mask = list(request.update_mask.paths)
        await unless_replayed(
            self.db,
            _SERVICE + "UpdateProduct",
            request.request_id,
            lambda: self.manager.verify_update(
                request.product.id, spec, mask, timeout_s=remaining_s(context, _CHECK_TIMEOUT_S, margin=0.5)
            ),
        )

        async def work(conn: AsyncConnection) -> catalog_pb2.UpdateProductResponse:
            updated = await self.manager.update_product(conn, request.product.id, spec, mask)
            return catalog_pb2.UpdateProductResponse(product=product_message(updated))

        return await idempotent(
            self.db, self.box, _SERVICE + "UpdateProduct", request, catalog_pb2.UpdateProductResponse, work
        )

    async def DeleteProduct(
        self, request: catalog_pb2.DeleteProductRequest, context: Context
    ) -> catalog_pb2.DeleteProductResponse:
        async def work(conn: AsyncConnection) -> catalog_pb2.DeleteProductResponse:
            await self.manager.delete_product(conn, request.id)
            return catalog_pb2.DeleteProductResponse()

        return await idempotent(
            self.db, self.box, _SERVICE + "DeleteProduct", request, catalog_pb2.DeleteProductResponse, work
        )

    async def QuoteOrder(
        self, request: catalog_pb2.QuoteOrderRequest, context: Context
    ) -> catalog_pb2.QuoteOrderResponse:
        chosen = chosen_options(request.options, request.quantities)
        async with self.db.read() as conn:
            result = await self.manager.quote_order(
                conn, request.product_id, chosen.quantities, field=chosen.field
            )
        return catalog_pb2.QuoteOrderResponse(
            currency_code=result.currency_code,
            base_price_minor=result.base_price_minor,
            lines=[
                catalog_pb2.QuoteLine(
                    key=line.key,
                    label=line.label,
                    quantity=line.quantity,
                    unit_price_minor=line.unit_price_minor,
                    amount_minor=line.amount_minor,
                )
                for line in result.lines
            ],
            total_minor=result.total_minor,
        )
