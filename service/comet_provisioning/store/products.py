"""The `products` table: a product's row in and out (its options are a JSON list column), and its
live accounts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Row, delete, select

from comet_provisioning.core.models import Product, ProductOption

from .live_accounts import count_live, forget_in_terminated, live_count_column
from .named_rows import NamedRows
from .schema import accounts, products

__all__ = ["SqlProducts"]


class SqlProducts(NamedRows[Product]):
    table = products
    name = "name"
    query = select(
        *products.c, live_count_column(accounts.c.product_id, products.c.id).label("account_count")
    )
    order = (products.c.name, products.c.id)

    __slots__ = ()

    def _record(self, row: Row[Any]) -> Product:
        data = dict(row._mapping)
        data["options"] = [ProductOption(**option) for option in data["options"]]
        return Product(**data)

    def _values(self, record: Product) -> dict[str, Any]:
        values = super()._values(record)
        values["options"] = [asdict(option) for option in record.options]
        return values

    async def page(self, *, offset: int, limit: int) -> list[Product]:
        return await self._page(offset=offset, limit=limit)

    async def in_group(self, group_id: str) -> list[Product]:
        return await self._page(products.c.server_group_id == group_id)

    async def live_accounts(self, product_id: str) -> int:
        return await count_live(self._conn, accounts.c.product_id == product_id)

    async def remove(self, product_id: str) -> None:
        await forget_in_terminated(self._conn, accounts.c.product_id, product_id)
        await self._conn.execute(delete(products).where(products.c.id == product_id))
