"""Typed helpers for CatalogService: products and quotes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping

from google.protobuf import field_mask_pb2

from ._base import ClientBase
from .results import Deleted, ProductResult
from .v1 import catalog_pb2

__all__ = ["CatalogHelpers"]


class CatalogHelpers(ClientBase):
    async def create_product(
        self, product: catalog_pb2.Product, *, request_id: str = "", timeout_s: float | None = None
    ) -> ProductResult:
        request = catalog_pb2.CreateProductRequest(product=product, request_id=request_id)
        reply = await self.invoke(self.catalog.CreateProduct, request, timeout_s=timeout_s)
        return ProductResult(reply.response.product, reply.request_id)

    async def get_product(self, product_id: str, *, timeout_s: float | None = None) -> catalog_pb2.Product:
        request = catalog_pb2.GetProductRequest(id=product_id)
        return (await self.call(self.catalog.GetProduct, request, timeout_s=timeout_s)).product

    def list_products(
        self, *, page_size: int = 100, timeout_s: float | None = None
    ) -> AsyncIterator[catalog_pb2.Product]:
        return self._pages(
            self.catalog.ListProducts,
            lambda token: catalog_pb2.ListProductsRequest(page_size=page_size, page_token=token),
            lambda page: page.products,
            timeout_s,
        )

    async def update_product(
        self,
        product: catalog_pb2.Product,
        fields: Iterable[str],
        *,
        request_id: str = "",
        timeout_s: float | None = None,
    ) -> ProductResult:
        """Changes the `fields` (mask paths, e.g. "name", "options") of the product `product.id`."""
        request = catalog_pb2.UpdateProductRequest(
            product=product,
            update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
            request_id=request_id,
        )
        reply = await self.invoke(self.catalog.UpdateProduct, request, timeout_s=timeout_s)
        return ProductResult(reply.response.product, reply.request_id)

    async def delete_product(
        self, product_id: str, *, request_id: str = "", timeout_s: float | None = None
    ) -> Deleted:
        request = catalog_pb2.DeleteProductRequest(id=product_id, request_id=request_id)
        reply = await self.invoke(self.catalog.DeleteProduct, request, timeout_s=timeout_s)
        return Deleted(reply.request_id)

    async def quote_order(
        self,
        product_id: str,
        options: Mapping[str, int] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> catalog_pb2.QuoteOrderResponse:
        """Prices an order of `product_id` with the chosen option quantities (the rest default)."""
        request = catalog_pb2.QuoteOrderRequest(product_id=product_id, options=dict(options or {}))
        return await self.call(self.catalog.QuoteOrder, request, timeout_s=timeout_s)
