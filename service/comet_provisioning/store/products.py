"""Products and their configurable options (a JSON list column). Callers own the transaction."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .accounts import live_count_column
from .records import ProductOption, ProductRecord
from .schema import accounts, products

__all__ = [
    "delete_product",
    "get_product",
    "insert_product",
    "list_products",
    "product_name_taken",
    "update_product",
]

_ORDER = (products.c.name, products.c.id)


def _values(record: ProductRecord) -> dict[str, Any]:
    values = {c.name: getattr(record, c.name) for c in products.c}
    values["options"] = [asdict(option) for option in record.options]
    return values


def _product(row: Row[Any]) -> ProductRecord:
    data = dict(row._mapping)
    data["options"] = [ProductOption(**option) for option in data["options"]]
    return ProductRecord(**data)


def _query() -> Any:
    return select(*products.c, live_count_column(accounts.c.product_id, products.c.id).label("account_count"))


async def insert_product(conn: AsyncConnection, record: ProductRecord) -> None:
    await conn.execute(insert(products).values(_values(record)))


async def update_product(conn: AsyncConnection, record: ProductRecord) -> None:
    values = _values(record)
    del values["id"], values["create_time"]
    await conn.execute(update(products).where(products.c.id == record.id).values(values))


async def delete_product(conn: AsyncConnection, product_id: str) -> bool:
    result = await conn.execute(delete(products).where(products.c.id == product_id))
    return bool(result.rowcount)


async def get_product(
    conn: AsyncConnection, product_id: str, *, for_update: bool = False
) -> ProductRecord | None:
    if for_update:
        await conn.execute(select(products.c.id).where(products.c.id == product_id).with_for_update())
    row = (await conn.execute(_query().where(products.c.id == product_id))).first()
    return _product(row) if row is not None else None


async def list_products(conn: AsyncConnection, *, offset: int, limit: int) -> list[ProductRecord]:
    query = _query().order_by(*_ORDER).offset(offset).limit(limit)
    return [_product(row) for row in await conn.execute(query)]


async def product_name_taken(conn: AsyncConnection, name: str, *, exclude_id: str | None = None) -> bool:
    query = select(products.c.id).where(products.c.name == name)
    if exclude_id is not None:
        query = query.where(products.c.id != exclude_id)
    return (await conn.execute(query.limit(1))).first() is not None
