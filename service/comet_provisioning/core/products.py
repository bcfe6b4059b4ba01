"""Products: CRUD with field-mask updates, and quotes. The option rules live in `catalog`; what
the servers of the product's group must offer is asked before a save (see `product_checks`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping, Sequence

from comet_provisioning.comet.errors import CometError

from .catalog import NormalizedProduct, Quote, quote, resolve_quantities, validate_product
from .clock import utcnow
from .comet_clients import ServerClients
from .crud import Crud, Written, in_use, new_id
from .errors import Violations
from .masks import apply_mask, expand_mask
from .models import ModuleSettingsSpec, OptionSpec, Product, ProductSpec, Server
from .mutations import Mutation, Mutations
from .product_checks import CHECKED_SETTINGS, Problem, problems_on, unreachable, unsupported
from .unit_of_work import Store, UnitOfWork

__all__ = ["ProductManager"]

Encode = Callable[[Product], bytes]

_SETTINGS_LEAVES = tuple(
    f"module_settings.{name}"
    for name in (
        "server_group_id",
        "policy_group_mode",
        "policy_id",
        "storage_provider_id",
        "require_password_change",
        "setup_mode",
    )
)
_LEAVES = ("name", "description", "currency_code", "base_price_minor", *_SETTINGS_LEAVES, "options")
_GROUPS = {"*": _LEAVES, "module_settings": _SETTINGS_LEAVES}
_OUTPUT_ONLY = ("id", "account_count", "create_time", "update_time")
_GROUP_FIELD = "product.module_settings.server_group_id"
_FIELD_OF = {setting: f"product.module_settings.{setting}" for setting in CHECKED_SETTINGS}
_GROUP_MAX = 10_000


def _spec_of(product: Product) -> ProductSpec:
    return ProductSpec(
        name=product.name,
        description=product.description,
        currency_code=product.currency_code,
        base_price_minor=product.base_price_minor,
        module_settings=ModuleSettingsSpec(
            server_group_id=product.server_group_id,
            policy_group_mode=product.policy_group_mode,
            policy_id=product.policy_id,
            storage_provider_id=product.storage_provider_id,
            require_password_change=product.require_password_change,
            setup_mode=product.setup_mode,
        ),
        options=[OptionSpec(**dataclasses.asdict(option)) for option in product.options],
    )


def _merge(current: Product, spec: ProductSpec, leaves: set[str]) -> ProductSpec:
    merged = _spec_of(current)
    apply_mask(
        merged,
        dataclasses.replace(spec, module_settings=spec.module_settings or ModuleSettingsSpec()),
        leaves,
    )
    return merged


class ProductManager:
    def __init__(self, store: Store, mutations: Mutations, clients: ServerClients) -> None:
        self._crud = Crud[Product](
            store,
            mutations,
            lambda uow: uow.products,
            noun="product",
            name_field="name",
            list_method="ListProducts",
            group_field=_GROUP_FIELD,
        )
        self._mutations = mutations
        self._clients = clients

    async def _check(self, uow: UnitOfWork, spec: ProductSpec, *, product_id: str = "") -> NormalizedProduct:
        violations = Violations()
        product = validate_product(spec, violations)
        group_id = product.server_group_id
        if group_id and await uow.server_groups.get(group_id) is None:
            violations.add(_GROUP_FIELD, f"no server group {group_id!r}")
        violations.raise_if_any()
        await self._crud.check_name(uow, product.name, other_than=product_id)
        return product

    # -- reads ------------------------------------------------------------------------------------

    async def product(self, product_id: str) -> Product:
        """One product, read on its own (NOT_FOUND when there is none)."""
        return await self._crud.one(product_id)

    async def page(self, page_size: int, page_token: str) -> tuple[list[Product], str]:
        return await self._crud.page(
            page_size, page_token, lambda uow, offset, limit: uow.products.page(offset=offset, limit=limit)
        )

    async def quote(self, product_id: str, quantities: Mapping[str, int], *, field: str = "options") -> Quote:
        product = await self._crud.one(product_id, field="product_id")
        return quote(product, resolve_quantities(product, quantities, field=field))

    # -- writes -----------------------------------------------------------------------------------

    async def create(
        self, spec: ProductSpec, mutation: Mutation, encode: Encode, *, timeout_s: float
    ) -> Written[Product]:
        """Every rule (INVALID_ARGUMENT, ALREADY_EXISTS), then what every server of the group must
        offer (FAILED_PRECONDITION naming the server), then the write."""

        async def verify() -> None:
            async with self._crud.store.read() as uow:
                product = await self._check(uow, spec)
                members = await self._members(uow, product.server_group_id)
            await self._verify(product, members, timeout_s)

        await self._mutations.unless_replayed(mutation, verify)

        async def build(uow: UnitOfWork) -> Product:
            checked = await self._check(uow, spec)
            now = utcnow()
            record = Product(id=new_id(), create_time=now, update_time=now, **dataclasses.asdict(checked))
            record.options = list(checked.options)
            return record

        return await self._crud.create(mutation, build, encode)

    async def update(
        self,
        product_id: str,
        spec: ProductSpec,
        mask: Sequence[str],
        mutation: Mutation,
        encode: Encode,
        *,
        timeout_s: float,
    ) -> Written[Product]:
        """As create; the servers are asked only if the update changes a module setting they
        could contradict."""
        leaves = expand_mask(mask, groups=_GROUPS, leaves=_LEAVES, output_only=_OUTPUT_ONLY)

        async def verify() -> None:
            async with self._crud.store.read() as uow:
                current = await self._crud.get(uow, product_id, field="product.id")
                product = await self._check(uow, _merge(current, spec, leaves), product_id=product_id)
                if all(getattr(current, name) == getattr(product, name) for name in CHECKED_SETTINGS):
                    return
                members = await self._members(uow, product.server_group_id)
            await self._verify(product, members, timeout_s)

        await self._mutations.unless_replayed(mutation, verify)

        async def merge(uow: UnitOfWork, current: Product) -> Product:
            checked = await self._check(uow, _merge(current, spec, leaves), product_id=product_id)
            fields = dataclasses.asdict(checked)
            fields["options"] = list(checked.options)
            return dataclasses.replace(current, update_time=utcnow(), **fields)

        return await self._crud.update(mutation, product_id, merge, encode, field="product.id")

    async def delete(self, product_id: str, mutation: Mutation) -> None:
        async def still_used(uow: UnitOfWork, product: Product) -> None:
            live = await uow.products.live_accounts(product_id)
            if live:
                raise in_use(
                    "PRODUCT_IN_USE",
                    f"{live} account(s) still use product {product_id!r}; terminate them first",
                    product_id=product_id,
                    account_count=str(live),
                )

        await self._crud.delete(mutation, product_id, still_used)

    # -- what the servers offer -------------------------------------------------------------------

    @staticmethod
    async def _members(uow: UnitOfWork, group_id: str) -> list[Server]:
        return await uow.servers.page(group_id=group_id, offset=0, limit=_GROUP_MAX)

    async def _verify(self, product: NormalizedProduct, members: Sequence[Server], timeout_s: float) -> None:
        async def on(server: Server) -> list[Problem]:
            client = await self._clients.client(server.id)
            try:
                return await problems_on(client, server, [product], timeout_s=timeout_s)
            except CometError as error:
                raise unreachable(server, error) from error

        results = await asyncio.gather(*(on(server) for server in members), return_exceptions=True)
        problems: list[Problem] = []
        for result in results:  # in placement order: the first server at fault is reported first
            if isinstance(result, BaseException):
                raise result
            problems.extend(result)
        if problems:
            raise unsupported(problems, field_of=_FIELD_OF)
