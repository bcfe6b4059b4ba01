"""Products as the accounts core reads them: for orders and reads, which look products up all the
time, a product read in the last few seconds is reused (a change shows within that time);
lifecycle changes read it afresh."""

from __future__ import annotations

import time

from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning.core.models import Product

from .ports import Products

__all__ = ["RecentProducts"]

RECENT_S = 2.0


class RecentProducts:
    def __init__(self, products: Products, *, keep_s: float = RECENT_S) -> None:
        self._products = products
        self._keep_s = keep_s
        self._recent: dict[str, tuple[float, Product]] = {}

    async def fresh(self, product_id: str) -> Product:
        """Read now. FAILED_PRECONDITION PRODUCT_GONE for an account whose product was deleted."""
        if not product_id:
            raise ServiceError(
                ErrorKind.FAILED_PRECONDITION, "PRODUCT_GONE", "the account's product no longer exists"
            )
        return await self._products.product(product_id)

    async def recent(self, product_id: str) -> Product:
        cached = self._recent.get(product_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        product = await self.fresh(product_id)
        self._recent[product_id] = (time.monotonic() + self._keep_s, product)
        return product

    async def fresh_or_none(self, product_id: str) -> Product | None:
        """None when the product is gone (its users can still be suspended)."""
        try:
            return await self.fresh(product_id)
        except ServiceError as err:
            if err.kind in (ErrorKind.NOT_FOUND, ErrorKind.FAILED_PRECONDITION):
                return None
            raise
