"""What products need from persistence (the domain errors are those of server_repository)."""

from __future__ import annotations

from typing import Protocol

from .models import Product

__all__ = ["ProductRepository"]


class ProductRepository(Protocol):
    async def get(self, product_id: str, *, lock: bool = False) -> Product | None:
        """`lock` holds the product's row to the end of the transaction."""
        ...

    async def page(self, *, offset: int, limit: int) -> list[Product]:
        """By name."""
        ...

    async def in_group(self, group_id: str) -> list[Product]:
        """Every product placing accounts through the group, by name."""
        ...

    async def name_taken(self, name: str, *, other_than: str = "") -> bool: ...

    async def add(self, product: Product) -> None:
        """NameTaken, UnknownServerGroup."""
        ...

    async def replace(self, product: Product) -> None:
        """Every stored field but its id and creation time; NameTaken, UnknownServerGroup."""
        ...

    async def live_accounts(self, product_id: str) -> int:
        """Its accounts not terminated."""
        ...

    async def remove(self, product_id: str) -> None:
        """Deletes the product; its terminated accounts forget it. The caller holds its lock and
        has made sure no live account uses it."""
        ...
