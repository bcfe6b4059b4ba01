"""CreateAccount: an order recorded once per request id, and provisioned at once when its product
sets up on order.

The hot path costs two write transactions: the order inserted already placed, with its username
reserved, add-user marked and this replica's lease on it; and its final state, events and the end of
the lease. A repeated order (same request id, same request) waits for a run in progress and answers
with the account, resuming it when unfinished; the same request id with another request is
REQUEST_ID_REUSED.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from comet_provisioning.core.catalog import resolve_quantities
from comet_provisioning.core.clock import Clock, SystemClock
from comet_provisioning.core.errors import ErrorKind, ServiceError, Violations
from comet_provisioning.core.models import Product
from comet_provisioning.core.request_ids import RequestIds
from comet_provisioning.core.request_records import RequestIdTaken
from comet_provisioning.core.unit_of_work import Store, UnitOfWork

from .commands import AccountCommands
from .errors import deadline_passed
from .exclusive import Exclusive
from .journal import Journal
from .leases import AccountGuard
from .model import Account, Status
from .product_cache import RecentProducts
from .provisioner import Provisioner, ProvisionResult
from .queries import AccountQueries
from .validation import Order, check_order

__all__ = ["CREATE_METHOD", "Orders"]

CREATE_METHOD = "/comet.provisioning.v1.AccountService/CreateAccount"


class _Ordered(Exception):
    """The order's request id already has an outcome: this account."""

    def __init__(self, account_id: str) -> None:
        super().__init__(account_id)
        self.account_id = account_id


class Orders:
    def __init__(
        self,
        store: Store,
        queries: AccountQueries,
        products: RecentProducts,
        provisioner: Provisioner,
        commands: AccountCommands,
        guard: AccountGuard,
        exclusive: Exclusive,
        request_ids: RequestIds,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._queries = queries
        self._products = products
        self._provisioner = provisioner
        self._commands = commands
        self._guard = guard
        self._exclusive = exclusive
        self._request_ids = request_ids
        self._clock = clock or SystemClock()

    async def create(
        self, order: Order, *, request_id: str, fingerprint: str, timeout_s: float | None = None
    ) -> ProvisionResult:
        """Records the order (once per request id) and provisions it when the product sets up on
        order. A retry of a FAILED or interrupted create resumes it."""
        violations = Violations()  # every bad field is named at once
        check_order(order, violations)
        if not order.product_id:
            violations.raise_if_any()
        product = await self._product_for(order)
        quantities = resolve_quantities(product, order.options, field="options", violations=violations)
        violations.raise_if_any()
        self._request_ids.check(request_id)
        try:
            async with asyncio.timeout(timeout_s):
                try:
                    return await self._record(
                        self._new_account(order, product, quantities), product, request_id, fingerprint
                    )
                except _Ordered as ordered:  # a retry: the request id has an outcome
                    return await self._again(ordered.account_id, request_id)
                except RequestIdTaken:  # a concurrent twin with the same request id won
                    done = await self._request_ids.replay(CREATE_METHOD, request_id, fingerprint)
                    assert done is not None
                    return await self._again(done.decode(), request_id)
        except TimeoutError as exc:
            raise deadline_passed("") from exc

    async def _record(
        self, account: Account, product: Product, request_id: str, fingerprint: str
    ) -> ProvisionResult:
        """The order's request id is looked up and recorded in its first write transaction (a retry
        finds the outcome there and is answered from the account, _Ordered); the record's response
        is the account id (the reply may carry a generated password, which is never kept)."""
        journal = Journal(account.id, "create", request_id)
        journal.note("record_order", "SUCCEEDED", f"product {product.id}")

        async def record(uow: UnitOfWork) -> None:
            done = await self._request_ids.outcome(uow, CREATE_METHOD, request_id, fingerprint)
            if done is not None:
                raise _Ordered(done.decode())
            await self._request_ids.record(uow, CREATE_METHOD, request_id, fingerprint, account.id.encode())

        if not account.provision_requested:  # manual acceptance: record only
            async with self._store.write() as uow:
                await record(uow)
                await uow.accounts.add(account)
                await uow.events.add(journal.take())
            return ProvisionResult(account)
        async with self._guard.hold(account.id, claimed=True) as held:
            placed = await self._provisioner.record_and_place(
                account, product, journal, self._guard.claim(), record
            )
            async with contextlib.AsyncExitStack() as stack:
                try:
                    await stack.enter_async_context(self._exclusive.slot(placed.server_id))
                except ServiceError:
                    # Refused before anything reached Comet: the order leaves nothing behind.
                    async with self._store.write() as uow:
                        await uow.accounts.remove_unstarted(placed.id, self._guard.owner)
                    held.lease_ended_by_write()
                    raise
                return await self._provisioner.provision(placed, product, journal, held=held, placed_now=True)
        raise AssertionError("unreachable")  # pragma: no cover - for the type checker

    async def _again(self, account_id: str, request_id: str) -> ProvisionResult:
        """A repeated order: waits for a run in progress, then answers with the account, resuming
        it (at once, whatever its retry schedule says) if its provisioning is unfinished."""
        async with self._guard.hold(account_id) as held:
            current = await self._queries.load(account_id)
            unfinished = current.status in (Status.PENDING, Status.FAILED) and current.provision_requested
            if unfinished or current.status in (Status.ACTIVE, Status.SUSPENDED):
                return await self._commands.provision(held, request_id, operation="create")
            return ProvisionResult(current)

    async def _product_for(self, order: Order) -> Product:
        try:
            return await self._products.recent(order.product_id)
        except ServiceError as err:
            if err.kind is ErrorKind.NOT_FOUND:
                raise ServiceError(
                    ErrorKind.NOT_FOUND,
                    err.reason,
                    err.message,
                    metadata=err.metadata | {"field": "product_id"},
                ) from err
            raise

    def _new_account(self, order: Order, product: Product, quantities: dict[str, int]) -> Account:
        now = self._clock.now()
        account_id = uuid.uuid4().hex
        return Account(
            id=account_id,
            product_id=product.id,
            customer=order.customer,
            options=quantities,
            status=Status.PENDING,
            create_time=now,
            update_time=now,
            requested_username=order.username,
            provision_requested=product.setup_mode != "MANUAL",
            pending_password_enc=(
                self._provisioner.seal_password(account_id, order.password) if order.password else None
            ),
        )
