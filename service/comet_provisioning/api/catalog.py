"""CatalogService: products (module settings and configurable options) and order quotes."""

from __future__ import annotations

from comet_provisioning_client.v1 import catalog_pb2, catalog_pb2_grpc

from comet_provisioning.core.catalog import chosen_options, unit_for
from comet_provisioning.core.models import ModuleSettingsSpec, OptionSpec, Product, ProductSpec
from comet_provisioning.core.products import ProductManager

from .convert import Context, enum_in, remaining_s, timestamp
from .idempotency import mutation, serialized

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


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, products: ProductManager) -> None:
        self._products = products

    async def CreateProduct(
        self, request: catalog_pb2.CreateProductRequest, context: Context
    ) -> catalog_pb2.CreateProductResponse:
        written = await self._products.create(
            product_spec(request.product),
            mutation(_SERVICE + "CreateProduct", request),
            lambda product: serialized(catalog_pb2.CreateProductResponse(product=product_message(product))),
            timeout_s=remaining_s(context, _CHECK_TIMEOUT_S, margin=0.5),
        )
        return catalog_pb2.CreateProductResponse.FromString(written.response)

    async def GetProduct(
        self, request: catalog_pb2.GetProductRequest, context: Context
    ) -> catalog_pb2.GetProductResponse:
        return catalog_pb2.GetProductResponse(
            product=product_message(await self._products.product(request.id))
        )

    async def ListProducts(
        self, request: catalog_pb2.ListProductsRequest, context: Context
    ) -> catalog_pb2.ListProductsResponse:
        found, token = await self._products.page(request.page_size, request.page_token)
        return catalog_pb2.ListProductsResponse(
            products=[product_message(p) for p in found], next_page_token=token
        )

    async def UpdateProduct(
        self, request: catalog_pb2.UpdateProductRequest, context: Context
    ) -> catalog_pb2.UpdateProductResponse:
        written = await self._products.update(
            request.product.id,
            product_spec(request.product),
            list(request.update_mask.paths),
            mutation(_SERVICE + "UpdateProduct", request),
            lambda product: serialized(catalog_pb2.UpdateProductResponse(product=product_message(product))),
            timeout_s=remaining_s(context, _CHECK_TIMEOUT_S, margin=0.5),
        )
        return catalog_pb2.UpdateProductResponse.FromString(written.response)

    async def DeleteProduct(
        self, request: catalog_pb2.DeleteProductRequest, context: Context
    ) -> catalog_pb2.DeleteProductResponse:
        await self._products.delete(request.id, mutation(_SERVICE + "DeleteProduct", request))
        return catalog_pb2.DeleteProductResponse()

    async def QuoteOrder(
        self, request: catalog_pb2.QuoteOrderRequest, context: Context
    ) -> catalog_pb2.QuoteOrderResponse:
        chosen = chosen_options(request.options, request.quantities)
        result = await self._products.quote(request.product_id, chosen.quantities, field=chosen.field)
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
