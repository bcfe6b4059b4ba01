"""Reading accounts: one, a page of them (keyset paging, so a listing never repeats or skips an
account while orders arrive), an account's event log, and the counts behind the metrics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from comet_provisioning.core.errors import ServiceError, not_found
from comet_provisioning.core.models import Product
from comet_provisioning.core.pagination import decode_page
from comet_provisioning.core.unit_of_work import Store

from .desired import desired_profile
from .errors import bad_page_token
from .model import Account, AccountFilter, Event
from .product_cache import RecentProducts
from .profile import DesiredProfile

__all__ = ["AccountQueries", "AccountWithQuotas"]


@dataclass(frozen=True)
class AccountWithQuotas:
    """An account with the quotas its product and options put in force (None: product gone)."""

    account: Account
    quotas: DesiredProfile | None


class AccountQueries:
    def __init__(self, store: Store, products: RecentProducts) -> None:
        self._store = store
        self._products = products

    async def load(self, account_id: str) -> Account:
        async with self._store.read_one() as uow:
            account = await uow.accounts.get(account_id)
        if account is None:
            raise not_found("account", account_id)
        return account

    async def with_quotas(
        self, account: Account, products: dict[str, Product | None] | None = None
    ) -> AccountWithQuotas:
        cache = products if products is not None else {}
        if account.product_id not in cache:
            try:
                cache[account.product_id] = await self._products.recent(account.product_id)
            except ServiceError:
                cache[account.product_id] = None
        product = cache[account.product_id]
        quotas = desired_profile(product, account.options) if product is not None else None
        return AccountWithQuotas(account, quotas)

    async def get(self, account_id: str) -> AccountWithQuotas:
        return await self.with_quotas(await self.load(account_id))

    async def page(
        self, where: AccountFilter, page_size: int, page_token: str
    ) -> tuple[list[AccountWithQuotas], str]:
        page = decode_page(
            page_size,
            page_token,
            "ListAccounts",
            where.server_id,
            where.product_id,
            where.status.value if where.status else "",
            where.customer_reference,
        )
        after = _account_key(page.after) if page.after is not None else None
        async with self._store.read() as uow:
            found = await uow.accounts.page(where, after=after, limit=page.fetch)
        cache: dict[str, Product | None] = {}
        accounts = [await self.with_quotas(account, cache) for account in found[: page.size]]
        last = found[page.size - 1] if len(found) > page.size else None
        return accounts, page.next_keyset_token(
            len(found), (last.create_time.isoformat(), last.id) if last is not None else ()
        )

    async def events(self, account_id: str, page_size: int, page_token: str) -> tuple[list[Event], str]:
        await self.load(account_id)
        page = decode_page(page_size, page_token, "ListAccountEvents", account_id)
        before_id = page.after[0] if page.after is not None else 0
        if not isinstance(before_id, int):
            raise bad_page_token()
        async with self._store.read() as uow:
            # Newest first, keyed by id: events appended meanwhile never shift a later page.
            events = await uow.events.page(account_id, before_id=before_id, limit=page.fetch)
        last = events[page.size - 1].id if len(events) > page.size else 0
        return events[: page.size], page.next_keyset_token(len(events), (last,))

    async def count_by_status(self) -> dict[str, int]:
        async with self._store.read_one() as uow:
            return await uow.accounts.count_by_status()

    async def count_by_limits(self) -> dict[str, int]:
        async with self._store.read_one() as uow:
            return await uow.accounts.count_by_limits()


def _account_key(after: tuple[str | int, ...]) -> tuple[dt.datetime, str]:
    """The (create_time, id) a ListAccounts page token carries."""
    try:
        when, account_id = after
        if not isinstance(when, str) or not isinstance(account_id, str):
            raise ValueError("key")
        return dt.datetime.fromisoformat(when), account_id
    except ValueError as exc:
        raise bad_page_token() from exc
