"""The account lifecycle's entry points: the original module's commands, made idempotent,
concurrency-safe and resumable.

Status machine: PENDING -> ACTIVE <-> SUSPENDED -> TERMINATED, and FAILED (with the step and error
that stopped provisioning) -> ACTIVE on a resume. An action not allowed in the current status is
FAILED_PRECONDITION; repeating an action whose result already holds succeeds without a Comet call.

Work on one account is serialized by `AccountGuard` (a lock here, a lease across replicas);
`run_exclusive` adds AIP-155 request ids on top: the first successful outcome is stored and a
retry with the same id gets it back, waiting while the first call still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from comet_provisioning.comet import CometUserNotFound
from comet_provisioning.core.catalog import resolve_quantities
from comet_provisioning.core.errors import (
    ErrorKind,
    FieldViolation,
    ServiceError,
    Violations,
    invalid_argument,
    not_found,
)
from comet_provisioning.core.limits import ServerCallLimiter
from comet_provisioning.core.models import Product
from comet_provisioning.core.pagination import decode_page
from comet_provisioning.core.products import ProductManager
from comet_provisioning.store import account_rows as rows
from comet_provisioning.store import idempotency
from comet_provisioning.store.account_records import (
    Account,
    AccountFilter,
    Customer,
    Event,
    LimitsState,
    Status,
    StepState,
)
from comet_provisioning.store.crypto import SecretBox
from comet_provisioning.store.database import Database
from comet_provisioning.store.types import utcnow

from .comet_calls import account_client, comet_call
from .comet_user import no_attempt, owned, settle
from .desired import desired_profile
from .guard import AccountGuard
from .journal import Journal
from .ownership import Ownership
from .ports import CometClients
from .profile import DesiredProfile, set_suspended
from .provisioner import DEFAULT_PASSWORD_RETENTION, CreateRequestTaken, Provisioner, ProvisionResult
from .retry_schedule import RetrySchedule

log = logging.getLogger("comet_provisioning.accounts")

MIN_PASSWORD_LENGTH = 8
ORDER_PRODUCT_CACHE_S = 2.0
MAX_PASSWORD_LENGTH = 256
_TEXT_LIMITS = {"customer.email": 320, "customer.first_name": 200, "customer.last_name": 200}
_REFERENCE_MAX = 200
_REASON_MAX = 500


@dataclass(frozen=True)
class Order:
    product_id: str
    customer: Customer
    options: Mapping[str, int]
    username: str = ""
    password: str = dataclasses.field(default="", repr=False)


@dataclass(frozen=True)
class AccountView:
    """An account with the quotas its product and options put in force (None: product gone)."""

    account: Account
    quotas: DesiredProfile | None


class AccountManager:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        clients: CometClients,
        products: ProductManager,
        *,
        replica_id: str = "",
        lease_ttl: dt.timedelta = dt.timedelta(seconds=15),
        event_retention: int = 1000,
        retry_schedule: RetrySchedule | None = None,
        password_retention: dt.timedelta = DEFAULT_PASSWORD_RETENTION,
    ) -> None:
        self._db = db
        self._box = box
        self._clients = clients
        self._products = products
        self.replica_id = replica_id or uuid.uuid4().hex
        self._provisioner = Provisioner(
            db,
            box,
            clients,
            self.replica_id,
            lease_ttl,
            schedule=retry_schedule,
            password_retention=password_retention,
        )
        self._guard = AccountGuard(self._acquire_lease, self._release_lease, lease_ttl)
        self._event_retention = event_retention
        self._order_products: dict[str, tuple[float, Product]] = {}
        # Bounds RPCs waiting for one Comet server (set by the app; None: unbounded).
        self.limiter: ServerCallLimiter | None = None

    # -- plumbing ---------------------------------------------------------------------------------

    async def _acquire_lease(self, account_id: str, ttl: dt.timedelta) -> bool:
        async with self._db.transaction() as conn:
            return await rows.acquire_lease(conn, account_id, self.replica_id, ttl)

    async def release_own_leases(self) -> int:
        """At start-up: leases held under this process's identity are a previous run's (this one
        has started nothing yet), so its unfinished work is resumed at once."""
        async with self._db.transaction() as conn:
            released = await rows.release_leases_of(conn, self.replica_id)
        if released:
            log.info("took back this replica's leases", extra={"accounts": released})
        return released

    async def _release_lease(self, account_id: str) -> None:
        async with self._db.transaction() as conn:
            await rows.release_lease(conn, account_id, self.replica_id)

    async def _load(self, account_id: str) -> Account:
        async with self._db.read_one() as conn:
            account = await rows.get_account(conn, account_id)
        if account is None:
            raise not_found("account", account_id)
        return account

    async def _product(self, product_id: str) -> Product:
        if not product_id:
            raise ServiceError(
                ErrorKind.FAILED_PRECONDITION, "PRODUCT_GONE", "the account's product no longer exists"
            )
        async with self._db.read_one() as conn:
            return await self._products.get_product(conn, product_id)

    async def _product_or_none(self, product_id: str) -> Product | None:
        try:
            return await self._product(product_id)
        except ServiceError as err:
            if err.kind in (ErrorKind.NOT_FOUND, ErrorKind.FAILED_PRECONDITION):
                return None  # the product is gone: the user can still be suspended
            raise

    def _slot(self, server_id: str) -> contextlib.AbstractAsyncContextManager[None]:
        """A place in the server's queue: COMET_SERVER_BUSY at once when too many already wait."""
        if self.limiter is None or not server_id:
            return contextlib.nullcontext()
        return self.limiter.slot(server_id)

    async def count_by_status(self) -> dict[str, int]:
        async with self._db.read_one() as conn:
            return await rows.count_by_status(conn)

    async def count_by_limits(self) -> dict[str, int]:
        async with self._db.read_one() as conn:
            return await rows.count_by_limits(conn)

    def fingerprint(self, method: str, request_bytes: bytes) -> str:
        return self._box.fingerprint(method.encode() + b"\x00" + request_bytes)

    async def run_exclusive(
        self,
        account_id: str,
        method: str,
        request_id: str,
        fingerprint: str,
        work: Callable[[], Awaitable[bytes]],
        *,
        timeout_s: float | None = None,
    ) -> bytes:
        """Runs `work` (which returns the serialized response) alone on the account, at most once
        per request id; the caller's deadline bounds the wait and the Comet calls alike."""
        account = await self._load(account_id)  # NOT_FOUND before waiting for anything
        try:
            async with asyncio.timeout(timeout_s):
                stored = await self._stored(method, request_id, fingerprint)
                if stored is not None:
                    return stored
                # The account first, then a place in its server's queue: calls waiting for the
                # same account hold no server capacity, and replays need none.
                async with self._guard.hold(account_id):
                    stored = await self._stored(method, request_id, fingerprint)
                    if stored is not None:
                        return stored
                    async with self._slot(account.server_id):
                        data = await work()
                    if request_id:
                        await self._remember(method, request_id, fingerprint, data)
                    return data
        except TimeoutError as exc:
            raise _deadline(account_id) from exc

    async def _stored(self, method: str, request_id: str, fingerprint: str) -> bytes | None:
        if not request_id:
            return None
        async with self._db.read_one() as conn:
            stored = await idempotency.lookup(conn, method, request_id)
        if stored is None:
            return None
        if not hmac.compare_digest(stored.fingerprint, fingerprint):
            raise _request_id_reused(method, request_id)
        return stored.response

    async def _remember(self, method: str, request_id: str, fingerprint: str, data: bytes) -> None:
        try:
            async with self._db.transaction() as conn:
                await idempotency.remember(conn, method, request_id, fingerprint, data)
        except IntegrityError:
            pass  # a twin on another replica remembered the same outcome first

    async def _save(self, account: Account, journal: Journal) -> Account:
        async with self._db.transaction() as conn:
            saved = await rows.save_account(conn, account)
            await rows.add_events(conn, journal.take())
        return saved

    # -- reads ------------------------------------------------------------------------------------

    async def view(self, account: Account, products: dict[str, Product | None] | None = None) -> AccountView:
        cache = products if products is not None else {}
        if account.product_id not in cache:
            try:
                cache[account.product_id] = await self._recent_product(account.product_id)
            except ServiceError:
                cache[account.product_id] = None
        product = cache[account.product_id]
        quotas = desired_profile(product, account.options) if product is not None else None
        return AccountView(account, quotas)

    async def get(self, account_id: str) -> AccountView:
        return await self.view(await self._load(account_id))

    async def list_accounts(
        self, where: AccountFilter, page_size: int, page_token: str
    ) -> tuple[list[AccountView], str]:
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
        async with self._db.read() as conn:
            found = await rows.list_accounts(conn, where, after=after, limit=page.fetch)
        cache: dict[str, Product | None] = {}
        views = [await self.view(account, cache) for account in found[: page.size]]
        last = found[page.size - 1] if len(found) > page.size else None
        return views, page.next_keyset_token(
            len(found), (last.create_time.isoformat(), last.id) if last is not None else ()
        )

    async def events(self, account_id: str, page_size: int, page_token: str) -> tuple[list[Event], str]:
        await self._load(account_id)
        page = decode_page(page_size, page_token, "ListAccountEvents", account_id)
        before_id = page.after[0] if page.after is not None else 0
        if not isinstance(before_id, int):
            raise _bad_token()
        async with self._db.read() as conn:
            # Newest first, keyed by id: events appended meanwhile never shift a later page.
            events = await rows.list_events(conn, account_id, before_id=before_id, limit=page.fetch)
        last = events[page.size - 1].id if len(events) > page.size else 0
        return events[: page.size], page.next_keyset_token(len(events), (last,))

    # -- create and provision ---------------------------------------------------------------------

    async def create(
        self, order: Order, *, request_id: str, fingerprint: str, timeout_s: float | None = None
    ) -> tuple[AccountView, str]:
        """Records the order (once per request id) and provisions it when the product sets up on
        order. A retry of a FAILED or interrupted create resumes it. Returns (view, generated
        password or "")."""
        violations = Violations()  # every bad field is named at once
        _check_order(order, violations)
        if not order.product_id:
            violations.add("product_id", "required")
            violations.raise_if_any()
        product = await self._product_for_order(order)
        quantities = resolve_quantities(product, order.options, field="options", violations=violations)
        violations.raise_if_any()
        try:
            async with asyncio.timeout(timeout_s):
                if request_id:
                    existing = await self._by_create_request(request_id)
                    if existing is not None:
                        return await self._resume_order(
                            _same_order(existing, fingerprint, request_id), product
                        )
                account = self._new_account(order, product, quantities, request_id, fingerprint)
                journal = Journal(account.id, "create", request_id)
                journal.note("record_order", "SUCCEEDED", f"product {product.id}")
                if not account.provision_requested:  # manual acceptance: record only
                    try:
                        async with self._db.transaction() as conn:
                            await rows.insert_account(conn, account)
                            await rows.add_events(conn, journal.take())
                    except IntegrityError:  # a concurrent twin with the same request id won
                        existing = await self._by_create_request(request_id)
                        if existing is None:
                            raise
                        return await self.view(_same_order(existing, fingerprint, request_id)), ""
                    return await self.view(account, {product.id: product}), ""
                try:
                    async with self._guard.hold(account.id, leased=True) as lease:
                        placed = await self._provisioner.record_and_place(account, product, journal)
                        async with contextlib.AsyncExitStack() as stack:
                            try:
                                await stack.enter_async_context(self._slot(placed.server_id))
                            except ServiceError:
                                # Refused before anything reached Comet: the order leaves nothing.
                                async with self._db.transaction() as conn:
                                    await rows.delete_unstarted(conn, placed.id, self.replica_id)
                                lease.released = True
                                raise
                            result = await self._provisioner.provision(
                                placed, product, journal, placed_now=True
                            )
                        lease.released = True  # the final save released it
                except CreateRequestTaken:
                    existing = await self._by_create_request(request_id)
                    assert existing is not None
                    return await self._resume_order(_same_order(existing, fingerprint, request_id), product)
                return await self.view(result.account, {product.id: product}), result.generated_password
        except TimeoutError as exc:
            raise _deadline("") from exc

    async def _by_create_request(self, request_id: str) -> Account | None:
        async with self._db.read_one() as conn:
            return await rows.get_by_create_request(conn, request_id)

    async def _resume_order(self, account: Account, product: Product) -> tuple[AccountView, str]:
        """A repeated order: wait for a run in progress, then answer, resuming it if unfinished
        (at once, whatever its retry schedule says: the caller is waiting)."""
        async with self._guard.hold(account.id):
            account = await self._load(account.id)
            if account.status in (Status.PENDING, Status.FAILED) and account.provision_requested:
                result = await self._provision_locked(account, product, "create", account.create_request_id)
                return await self.view(result.account, {product.id: product}), result.generated_password
            account, password = await self._hand_over(account, "create", account.create_request_id)
            return await self.view(account), password

    async def _hand_over(self, account: Account, operation: str, request_id: str) -> tuple[Account, str]:
        """A generated password no reply has carried yet (the order was finished by the sweep)."""
        return await self._provisioner.hand_over_password(account, Journal(account.id, operation, request_id))

    async def _product_for_order(self, order: Order) -> Product:
        try:
            return await self._recent_product(order.product_id)
        except ServiceError as err:
            if err.kind is ErrorKind.NOT_FOUND:
                raise ServiceError(
                    ErrorKind.NOT_FOUND,
                    err.reason,
                    err.message,
                    metadata=err.metadata | {"field": "product_id"},
                ) from err
            raise

    async def _recent_product(self, product_id: str) -> Product:
        """For orders and reads, which look products up all the time: a product read in the last
        ORDER_PRODUCT_CACHE_S is reused (a change shows within that time). Lifecycle changes read
        the product afresh."""
        cached = self._order_products.get(product_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        product = await self._product(product_id)
        self._order_products[product_id] = (time.monotonic() + ORDER_PRODUCT_CACHE_S, product)
        return product

    def _new_account(
        self, order: Order, product: Product, quantities: dict[str, int], request_id: str, fingerprint: str
    ) -> Account:
        now = utcnow()
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
            create_request_id=request_id,
            create_fingerprint=fingerprint if request_id else "",
        )

    async def provision_locked(self, account_id: str, request_id: str) -> tuple[AccountView, str]:
        """ProvisionAccount, inside run_exclusive: accept a PENDING order or resume a FAILED one."""
        account = await self._load(account_id)
        if account.status is Status.TERMINATED:
            raise _precondition(account, "provision")
        if account.status in (Status.ACTIVE, Status.SUSPENDED):
            account, password = await self._hand_over(account, "provision", request_id)
            return await self.view(account), password
        product = await self._product(account.product_id)
        if not account.provision_requested or account.status is Status.FAILED:
            # An operator's go: a FAILED account gets a fresh retry deadline.
            account = await self._save(
                dataclasses.replace(account, provision_requested=True, provision_deadline=None),
                Journal(account.id, "provision"),
            )
        result = await self._provision_locked(account, product, "provision", request_id)
        return await self.view(result.account), result.generated_password

    async def _provision_locked(
        self, account: Account, product: Product, operation: str, request_id: str, *, caller: bool = True
    ) -> ProvisionResult:
        journal = Journal(account.id, operation, request_id)
        return await self._provisioner.provision(account, product, journal, caller=caller)

    async def resume_unfinished(self, *, limit: int = 500, concurrency: int = 8) -> int:
        """The sweep: provisioning that was asked for and never finished (a crash, a replica that
        died, a transient failure whose retry is due) continues from what the journal and Comet
        say is done; a FAILED account whose Comet user's limits are not confirmed gets them (or
        is suspended); generated passwords past their retention are erased."""
        now = utcnow()
        async with self._db.transaction() as conn:
            await rows.erase_expired_passwords(conn, now)
        async with self._db.read() as conn:
            due = await rows.due_accounts(conn, now, limit=limit)
        gate = asyncio.Semaphore(concurrency)

        async def resume(account_id: str) -> bool:
            async with gate:
                try:
                    async with self._guard.hold(account_id):
                        account = await self._load(account_id)
                        if not _due(account, utcnow()):
                            return False
                        if account.status is Status.FAILED:
                            product = await self._product_or_none(account.product_id)
                            await self._provisioner.contain(account, product, Journal(account.id, "contain"))
                            return True
                        product = await self._product(account.product_id)
                        await self._provision_locked(account, product, "resume", "", caller=False)
                        return True
                except ServiceError as err:
                    log.warning(
                        "resuming an account failed",
                        extra={"account_id": account_id, "reason": err.reason},
                    )
                    return False

        pending = due

        results = await asyncio.gather(*(resume(account_id) for account_id in pending))
        if pending:
            log.info(
                "resumed unfinished provisioning", extra={"found": len(pending), "resumed": sum(results)}
            )
        return sum(results)

    async def resume_forever(self, interval_s: float) -> None:
        """Sweeps at start-up and then every `interval_s`: leases of a crashed replica expire, and
        its unfinished work is picked up here."""
        while True:
            try:
                await self.resume_unfinished()
            except Exception:
                log.exception("the resume sweep failed; trying again later")
            await asyncio.sleep(interval_s)

    async def reapply_quotas(self, account: Account, product: Product, journal: Journal) -> None:
        """Quotas and policy applied again (drift repair); call inside run_exclusive."""
        await self._provisioner.apply_quotas(account, product, journal)

    # -- the module commands (call inside run_exclusive) ------------------------------------------

    async def _comet_account(self, account_id: str, operation: str, allowed: tuple[Status, ...]) -> Account:
        account = await self._load(account_id)
        if account.status not in allowed:
            raise _precondition(account, operation)
        return account

    async def suspend_locked(self, account_id: str, reason: str, request_id: str) -> AccountView:
        _check_length("reason", reason, _REASON_MAX)
        account = await self._comet_account(account_id, "suspend", (Status.ACTIVE, Status.SUSPENDED))
        journal = Journal(account.id, "suspend", request_id)
        # Also when already SUSPENDED here: Comet may have been changed by hand since.
        await self._set_suspended(account, True, journal)
        saved = await self._save(
            dataclasses.replace(
                account, status=Status.SUSPENDED, suspend_reason=reason or account.suspend_reason
            ),
            journal,
        )
        return await self.view(saved)

    async def unsuspend_locked(self, account_id: str, request_id: str) -> AccountView:
        account = await self._comet_account(account_id, "unsuspend", (Status.ACTIVE, Status.SUSPENDED))
        journal = Journal(account.id, "unsuspend", request_id)
        await self._set_suspended(account, False, journal)
        saved = await self._save(
            dataclasses.replace(account, status=Status.ACTIVE, suspend_reason=""), journal
        )
        return await self.view(saved)

    async def _set_suspended(self, account: Account, suspended: bool, journal: Journal) -> None:
        """Makes Comet's IsSuspended say `suspended`: read with the hash, written only if it differs."""
        client = await account_client(self._clients, account)
        changed = False

        def mutate(profile: dict[str, Any]) -> bool:
            nonlocal changed
            changed = set_suspended(profile, suspended)
            return changed

        with journal.step("set_suspended", "set-user-profile-hash") as outcome:
            await comet_call(account, lambda: client.update_user_profile(account.username, mutate))
            if not changed:
                outcome.skipped("Comet already " + ("suspended" if suspended else "not suspended"))

    async def terminate_locked(
        self, account_id: str, *, uninstall: bool, remove_config: bool, request_id: str
    ) -> AccountView:
        account = await self._load(account_id)
        journal = Journal(account.id, "terminate", request_id)
        if account.status is Status.TERMINATED:
            return await self.view(account)
        if account.comet_user_may_exist and account.username and account.server_id:
            client = await account_client(self._clients, account)
            if account.add_user is StepState.ATTEMPTED:
                # add-user's outcome was never settled: delete only a user provably this account's.
                verdict = await comet_call(account, lambda: settle(client, account, journal))
                account = owned(account) if verdict is Ownership.OURS else no_attempt(account)
        if account.owns_comet_user and account.username and account.server_id:
            client = await account_client(self._clients, account)
            with journal.step("delete_user", "delete-user") as outcome:
                try:
                    await comet_call(
                        account,
                        lambda: client.delete_user(
                            account.username, uninstall=uninstall, remove_config=remove_config
                        ),
                    )
                except ServiceError as err:
                    if not isinstance(err.__cause__, CometUserNotFound):
                        raise
                    outcome.skipped("the user was already gone from Comet")
        else:
            journal.note("delete_user", "SKIPPED", "no Comet user was ever created")
        saved = await self._save(
            dataclasses.replace(
                account,
                status=Status.TERMINATED,
                provision_requested=False,
                pending_password_enc=None,
                generated_password_expire_time=None,
                next_attempt_time=None,
                limits_state=LimitsState.NO_COMET_USER,
                terminate_time=utcnow(),
            ),
            journal,
        )
        return await self.view(saved)

    async def change_password_locked(
        self, account_id: str, new_password: str, request_id: str
    ) -> AccountView:
        _check_password("new_password", new_password, required=True)
        account = await self._comet_account(account_id, "change_password", (Status.ACTIVE, Status.SUSPENDED))
        journal = Journal(account.id, "change_password", request_id)
        client = await account_client(self._clients, account)
        with journal.step("reset_password", "reset-user-password"):
            await comet_call(account, lambda: client.reset_user_password(account.username, new_password))
        return await self.view(await self._save(account, journal))

    async def change_package_locked(
        self, account_id: str, product_id: str, options: Mapping[str, int], request_id: str
    ) -> AccountView:
        account = await self._load(account_id)
        if account.status is Status.TERMINATED:
            raise _precondition(account, "change_package")
        new_product_id = product_id or account.product_id
        product = await self._product(new_product_id)
        merged = {
            option.key: options.get(option.key, account.options.get(option.key, option.default_quantity))
            for option in product.options
        }
        merged.update(options)  # unknown keys reach resolve_quantities, which names them
        quantities = resolve_quantities(product, merged, field="options")
        if product.server_group_id != (await self._product(account.product_id)).server_group_id and (
            account.comet_user_may_exist
        ):
            raise ServiceError(
                ErrorKind.FAILED_PRECONDITION,
                "SERVER_GROUP_CHANGE",
                "the new product places accounts in another server group; the Comet user cannot move",
                metadata={"account_id": account.id, "product_id": product.id},
            )
        journal = Journal(account.id, "change_package", request_id)
        changed = dataclasses.replace(account, product_id=product.id, options=quantities)
        if account.status in (Status.ACTIVE, Status.SUSPENDED):
            await self._provisioner.apply_quotas(changed, product, journal)
        else:
            journal.note("apply_quotas", "SKIPPED", "applied when the account is provisioned")
        return await self.view(await self._save(changed, journal))


def _bad_token() -> ServiceError:
    return invalid_argument(
        [FieldViolation("page_token", "not a token from a previous response of this list and filter")],
        "INVALID_PAGE_TOKEN",
    )


def _account_key(after: tuple[str | int, ...]) -> tuple[dt.datetime, str]:
    """The (create_time, id) a ListAccounts page token carries."""
    try:
        when, account_id = after
        if not isinstance(when, str) or not isinstance(account_id, str):
            raise ValueError("key")
        return dt.datetime.fromisoformat(when), account_id
    except ValueError as exc:
        raise _bad_token() from exc


def _due(account: Account, now: dt.datetime) -> bool:
    """Whether the sweep should run the account now (rows.due_accounts is the same rule in SQL)."""
    if account.next_attempt_time is not None and account.next_attempt_time > now:
        return False
    if account.status is Status.PENDING:
        return account.provision_requested
    return account.status is Status.FAILED and account.limits_state is LimitsState.PENDING


def _same_order(existing: Account, fingerprint: str, request_id: str) -> Account:
    if not hmac.compare_digest(existing.create_fingerprint, fingerprint):
        raise _request_id_reused("CreateAccount", request_id)
    return existing


def _request_id_reused(method: str, request_id: str) -> ServiceError:

    return ServiceError(
        ErrorKind.INVALID_ARGUMENT,
        "REQUEST_ID_REUSED",
        f"request id {request_id!r} was already used for a different {method} request",
        metadata={"method": method, "request_id": request_id},
        violations=[FieldViolation("request_id", "already used for a different request")],
    )


def _deadline(account_id: str) -> ServiceError:
    return ServiceError(
        ErrorKind.DEADLINE_EXCEEDED,
        "DEADLINE_EXCEEDED",
        "the deadline passed before the work finished; progress is kept and a retry resumes it",
        metadata={"account_id": account_id} if account_id else {},
    )


def _precondition(account: Account, operation: str) -> ServiceError:
    return ServiceError(
        ErrorKind.FAILED_PRECONDITION,
        "INVALID_ACCOUNT_STATUS",
        f"cannot {operation.replace('_', ' ')} an account that is {account.status.value}",
        metadata={"account_id": account.id, "status": account.status.value, "operation": operation},
    )


def _check_length(field: str, value: str, limit: int, violations: Violations | None = None) -> None:
    own = violations is None
    found = violations if violations is not None else Violations()
    if len(value) > limit:
        found.add(field, f"at most {limit} characters")
    if own:
        found.raise_if_any()


def _check_password(
    field: str, password: str, *, required: bool, violations: Violations | None = None
) -> None:
    own = violations is None
    found = violations if violations is not None else Violations()
    if not password:
        if required:
            found.add(field, "required")
    elif len(password) < MIN_PASSWORD_LENGTH:
        found.add(field, f"at least {MIN_PASSWORD_LENGTH} characters")
    elif len(password) > MAX_PASSWORD_LENGTH:
        found.add(field, f"at most {MAX_PASSWORD_LENGTH} characters")
    if own:
        found.raise_if_any()


def _check_order(order: Order, violations: Violations) -> None:
    customer = order.customer
    if not (customer.email or customer.first_name or customer.reference):
        violations.add("customer", "give at least one of email, first_name or reference")
    for field, value in (
        ("customer.email", customer.email),
        ("customer.first_name", customer.first_name),
        ("customer.last_name", customer.last_name),
    ):
        _check_length(field, value, _TEXT_LIMITS[field], violations)
    _check_length("customer.reference", customer.reference, _REFERENCE_MAX, violations)
    if customer.email and ("@" not in customer.email or any(c.isspace() for c in customer.email)):
        violations.add("customer.email", "not an e-mail address")
    _check_length("username", order.username, 100, violations)
    _check_password("password", order.password, required=False, violations=violations)
