"""Products: CRUD with field-mask updates, and quotes. The option rules live in `catalog`; what
the servers of the product's group must offer is checked by `verify_new`/`verify_update` before a
save (see `product_checks`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.comet.errors import CometError
from comet_provisioning.store import accounts as account_rows
from comet_provisioning.store import products as rows
from comet_provisioning.store import servers as server_rows
from comet_provisioning.store import utcnow

from .catalog import NormalizedProduct, Quote, quote, resolve_quantities, validate_product
from .errors import ErrorKind, ServiceError, Violations, not_found
from .masks import apply_mask, expand_mask
from .models import ModuleSettingsSpec, OptionSpec, Product, ProductSpec, Server
from .pagination import decode_page
from .product_checks import CHECKED_SETTINGS, Problem, problems_on, unreachable, unsupported
from .servers import DEFAULT_TEST_TIMEOUT_S, ServerManager, new_id

__all__ = ["ProductManager"]

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


_FIELD_OF = {setting: f"product.module_settings.{setting}" for setting in CHECKED_SETTINGS}
_GROUP_MAX = 10_000


class ProductManager:
    def __init__(self, servers: ServerManager) -> None:
        self._servers = servers

    async def _check(
        self, conn: AsyncConnection, spec: ProductSpec, *, exclude_id: str | None = None
    ) -> NormalizedProduct:
        violations = Violations()
        product = validate_product(spec, violations)
        group_id = product.server_group_id
        if group_id and await server_rows.get_group(conn, group_id) is None:
            violations.add("product.module_settings.server_group_id", f"no server group {group_id!r}")
        violations.raise_if_any()
        if await rows.product_name_taken(conn, product.name, exclude_id=exclude_id):
            raise ServiceError(
                ErrorKind.ALREADY_EXISTS,
                "PRODUCT_ALREADY_EXISTS",
                f"a product named {product.name!r} already exists",
                metadata={"name": product.name},
            )
        return product

    async def create_product(self, conn: AsyncConnection, spec: ProductSpec) -> Product:
        checked = await self._check(conn, spec)
        now = utcnow()
        record = Product(id=new_id(), create_time=now, update_time=now, **dataclasses.asdict(checked))
        record.options = list(checked.options)
        await rows.insert_product(conn, record)
        return record

    async def product(self, product_id: str) -> Product:
        """One product, read on its own (NOT_FOUND when there is none)."""
        async with self._servers.db.read_one() as conn:
            return await self.get_product(conn, product_id)

    async def get_product(
        self, conn: AsyncConnection, product_id: str, *, for_update: bool = False
    ) -> Product:
        if not product_id:
            violations = Violations()
            violations.add("id", "required")
            violations.raise_if_any()
        record = await rows.get_product(conn, product_id, for_update=for_update)
        if record is None:
            raise not_found("product", product_id)
        return record

    async def list_products(
        self, conn: AsyncConnection, *, page_size: int, page_token: str
    ) -> tuple[list[Product], str]:
        page = decode_page(page_size, page_token, "ListProducts")
        found = await rows.list_products(conn, offset=page.offset, limit=page.fetch)
        return found[: page.size], page.next_token(len(found))

    async def _merge(
        self, conn: AsyncConnection, product_id: str, spec: ProductSpec, mask: Sequence[str], *, lock: bool
    ) -> tuple[Product, NormalizedProduct]:
        leaves = expand_mask(mask, groups=_GROUPS, leaves=_LEAVES, output_only=_OUTPUT_ONLY)
        if not product_id:
            violations = Violations()
            violations.add("product.id", "required")
            violations.raise_if_any()
        current = await self.get_product(conn, product_id, for_update=lock)
        merged = _spec_of(current)
        incoming = dataclasses.replace(spec, module_settings=spec.module_settings or ModuleSettingsSpec())
        apply_mask(merged, incoming, leaves)
        return current, await self._check(conn, merged, exclude_id=product_id)

    async def update_product(
        self, conn: AsyncConnection, product_id: str, spec: ProductSpec, mask: Sequence[str]
    ) -> Product:
        current, checked = await self._merge(conn, product_id, spec, mask, lock=True)
        fields = dataclasses.asdict(checked)
        fields["options"] = list(checked.options)
        updated = dataclasses.replace(current, update_time=utcnow(), **fields)
        await rows.update_product(conn, updated)
        return updated

    # -- what the servers offer -------------------------------------------------------------------

    async def verify_new(self, spec: ProductSpec, *, timeout_s: float = DEFAULT_TEST_TIMEOUT_S) -> None:
        """Every rule of a create (INVALID_ARGUMENT, ALREADY_EXISTS), then what every server of the
        group must offer (FAILED_PRECONDITION naming the server). Writes nothing."""
        async with self._servers.db.read() as conn:
            product = await self._check(conn, spec)
            members = await self._members(conn, product.server_group_id)
        await self._verify(product, members, timeout_s)

    async def verify_update(
        self,
        product_id: str,
        spec: ProductSpec,
        mask: Sequence[str],
        *,
        timeout_s: float = DEFAULT_TEST_TIMEOUT_S,
    ) -> None:
        """As verify_new, for an update; the servers are asked only if the update changes a module
        setting they could contradict."""
        async with self._servers.db.read() as conn:
            current, product = await self._merge(conn, product_id, spec, mask, lock=False)
            if all(getattr(current, name) == getattr(product, name) for name in CHECKED_SETTINGS):
                return
            members = await self._members(conn, product.server_group_id)
        await self._verify(product, members, timeout_s)

    async def _members(self, conn: AsyncConnection, group_id: str) -> list[Server]:
        return await server_rows.list_servers(conn, group_id=group_id, offset=0, limit=_GROUP_MAX)

    async def _verify(self, product: NormalizedProduct, members: Sequence[Server], timeout_s: float) -> None:
        async def on(server: Server) -> list[Problem]:
            client = await self._servers.client(server.id)
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

    async def delete_product(self, conn: AsyncConnection, product_id: str) -> None:
        await self.get_product(conn, product_id, for_update=True)
        live = await account_rows.live_count(conn, product_id=product_id)
        if live:
            raise ServiceError(
                ErrorKind.FAILED_PRECONDITION,
                "PRODUCT_IN_USE",
                f"{live} account(s) still use product {product_id!r}; terminate them first",
                metadata={"product_id": product_id, "account_count": str(live)},
            )
        await account_rows.detach_terminated(conn, product_id=product_id)
        await rows.delete_product(conn, product_id)

    async def quote_order(
        self, conn: AsyncConnection, product_id: str, quantities: Mapping[str, int], *, field: str = "options"
    ) -> Quote:
        if not product_id:
            violations = Violations()
            violations.add("product_id", "required")
            violations.raise_if_any()
        product = await self.get_product(conn, product_id)
        return quote(product, resolve_quantities(product, quantities, field=field))
