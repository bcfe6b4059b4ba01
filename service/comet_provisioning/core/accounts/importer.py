"""ImportAccounts: adopt the Comet users of a server that no account tracks (the billing panels'
"server sync"), and report the tracked accounts that are missing on Comet.

One `list-users-full` call reads the server. An adopted user becomes an account of the given
product with its add-user step DONE (and its first Comet vault recorded), ACTIVE or SUSPENDED after
`IsSuspended`, so nothing ever tries to create it again. Its option quantities are read back from
the profile: devices from `MaximumDevices`, the protected-items quota and the first limited vault's
limit converted to the option's unit (GB = 1024^3, TB = 1024^4 bytes, rounded up), each clamped to
the option's range (0, "unlimited", becomes the option's maximum when the option cannot be 0).
The profile itself is left untouched: where the product cannot express it, the next usage sync
reports the drift (and repairs it when configured to).

Idempotent: the live-username reservation on (server, username) means a second run, or a twin
running at the same time on another replica, adopts nothing new.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from comet_provisioning.comet import CometClient, CometError
from comet_provisioning.core.accounts.model import (
    Account,
    Customer,
    LimitsState,
    Origin,
    Status,
    StepState,
)
from comet_provisioning.core.catalog import OPTION_KINDS
from comet_provisioning.core.clock import Clock, SystemClock
from comet_provisioning.core.comet_errors import to_service_error
from comet_provisioning.core.errors import ErrorKind, ServiceError, Violations
from comet_provisioning.core.keyed_locks import KeyedLocks
from comet_provisioning.core.models import Product, Server
from comet_provisioning.core.unit_of_work import Store

from .journal import Journal
from .model import UsernameTaken
from .ports import Products
from .profile import comet_vault_ids
from .usage import profile_quotas

__all__ = ["AccountImporter", "ImportResult", "ImportedUser", "options_from_profile"]

LIST_TIMEOUT_S = 120.0
_GENERIC_OPTIONS = ("number_of_devices", "protected_item_quota_gb", "storage_vault_quota_gb")


class Servers(Protocol):
    async def client(self, server_id: str) -> CometClient: ...

    async def server(self, server_id: str) -> Server:
        """NOT_FOUND when there is no such server."""
        ...


@dataclass(frozen=True)
class ImportedUser:
    username: str
    account_id: str  # "" in a dry run
    status: Status
    options: dict[str, int]


@dataclass
class ImportResult:
    users: list[ImportedUser] = field(default_factory=list)
    missing_account_ids: list[str] = field(default_factory=list)
    already_tracked: int = 0


def _ceil_div(value: int, unit: int) -> int:
    return -(-value // unit) if value > 0 else 0


def options_from_profile(profile: dict[str, Any], product: Product | None) -> dict[str, int]:
    """Option quantities that reproduce the profile's quotas (see the module docstring)."""
    quotas = profile_quotas(profile)
    raw = {
        "devices": quotas.max_devices,
        "protected_items": quotas.protected_items_quota_bytes,
        "storage_vault": quotas.vault_quota_bytes or 0,
    }
    keys = [option.key for option in product.options] if product is not None else list(_GENERIC_OPTIONS)
    ranges = {o.key: (o.min_quantity, o.max_quantity) for o in product.options} if product else {}
    found: dict[str, int] = {}
    used: set[str] = set()
    for key in keys:
        kind = OPTION_KINDS.get(key)
        if kind is None:
            continue
        if kind.quota in used:  # a GB and a TB option for the same quota: the first one carries it
            quantity = 0
        elif kind.bytes_per_unit:
            quantity = _ceil_div(raw[kind.quota], kind.bytes_per_unit)
        else:
            quantity = raw[kind.quota]
        used.add(kind.quota)
        if key in ranges:
            low, high = ranges[key]
            # 0 is "unlimited" (devices) or "no quota": when the product cannot express it, the
            # least restrictive quantity it allows is the closest.
            quantity = high if quantity == 0 and low > 0 else min(max(quantity, low), high)
        found[key] = quantity
    return found


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _adopted(
    username: str, profile: dict[str, Any], product: Product, server_id: str, now: dt.datetime
) -> Account:
    emails = profile.get("Emails")
    email = _text(emails[0], 320) if isinstance(emails, list) and emails else ""
    suspended = profile.get("IsSuspended") is True
    vault_ids = comet_vault_ids(profile)
    return Account(
        id=uuid.uuid4().hex,
        product_id=product.id,
        customer=Customer(email=email, first_name=_text(profile.get("AccountName"), 200)),
        options=options_from_profile(profile, product),
        status=Status.SUSPENDED if suspended else Status.ACTIVE,
        create_time=now,
        update_time=now,
        username=username,
        server_id=server_id,
        suspend_reason="suspended on Comet when imported" if suspended else "",
        add_user=StepState.DONE,
        # An operator adopted it on purpose: from now on this service may write to it. Its options
        # were read from the profile, so the limits in force are the account's own.
        comet_user_origin=Origin.IMPORTED,
        limits_state=LimitsState.APPLIED,
        vault=StepState.DONE if vault_ids else StepState.NOT_STARTED,
        vault_id=vault_ids[0] if vault_ids else "",
        provision_time=now,
    )


class AccountImporter:
    def __init__(
        self, store: Store, servers: Servers, products: Products, *, clock: Clock | None = None
    ) -> None:
        self._store = store
        self._servers = servers
        self._products = products
        self._clock = clock or SystemClock()
        self._locks = KeyedLocks()

    async def run(
        self, server_id: str, product_id: str, *, dry_run: bool, request_id: str = ""
    ) -> ImportResult:
        violations = Violations()
        if not server_id:
            violations.add("server_id", "required")
        if not product_id and not dry_run:
            violations.add("product_id", "required unless dry_run")
        violations.raise_if_any()
        server = await self._servers.server(server_id)
        product = await self._product(product_id) if product_id else None
        if product is not None and product.server_group_id != (server.server_group_id or ""):
            raise ServiceError(
                ErrorKind.FAILED_PRECONDITION,
                "PRODUCT_NOT_ON_SERVER",
                f"product {product.id} places accounts in server group {product.server_group_id or '-'}, "
                f"but server {server_id} is in {server.server_group_id or 'no group'}",
                metadata={
                    "product_id": product.id,
                    "server_id": server_id,
                    "server_group_id": server.server_group_id or "",
                },
            )
        async with self._locks.hold(server_id):
            return await self._run(server_id, product, dry_run=dry_run, request_id=request_id)

    async def _product(self, product_id: str) -> Product:
        try:
            return await self._products.product(product_id)
        except ServiceError as err:
            if err.kind is ErrorKind.NOT_FOUND:
                raise ServiceError(
                    err.kind, err.reason, err.message, metadata=err.metadata | {"field": "product_id"}
                ) from err
            raise

    async def _run(
        self, server_id: str, product: Product | None, *, dry_run: bool, request_id: str
    ) -> ImportResult:
        client = await self._servers.client(server_id)
        try:
            users = await client.list_users_full(timeout_s=LIST_TIMEOUT_S)
        except CometError as err:
            raise to_service_error(err, server_id) from err
        async with self._store.read() as uow:
            placed = await uow.accounts.on_server(server_id)
        live = [a for a in placed if a.status is not Status.TERMINATED and a.username]
        tracked = {a.username for a in live}
        result = ImportResult(
            missing_account_ids=sorted(
                a.id
                for a in live
                if a.status in (Status.ACTIVE, Status.SUSPENDED) and a.username not in users
            ),
            already_tracked=sum(1 for name in users if name in tracked),
        )
        now = self._clock.now()
        for username in sorted(users):
            profile = users[username]
            if username in tracked or not isinstance(profile, dict):
                continue
            suspended = profile.get("IsSuspended") is True
            status = Status.SUSPENDED if suspended else Status.ACTIVE
            if dry_run or product is None:
                result.users.append(
                    ImportedUser(username, "", status, options_from_profile(profile, product))
                )
                continue
            account = _adopted(username, profile, product, server_id, now)
            journal = Journal(account.id, "import", request_id)
            journal.note("adopt", "SUCCEEDED", f"adopted Comet user {username} as {status.value}")
            try:
                async with self._store.write() as uow:
                    await uow.accounts.add(account)
                    await uow.events.add(journal.take())
            except UsernameTaken:
                result.already_tracked += 1  # adopted meanwhile by a twin (another replica)
                continue
            result.users.append(ImportedUser(username, account.id, status, account.options))
        return result
