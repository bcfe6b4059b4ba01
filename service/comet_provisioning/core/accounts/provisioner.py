"""Provisioning as a resumable reconcile: place, reserve a username, make sure the product's policy
group exists, create the Comet user, request the initial vault, apply quotas and policy.

Every step reads the journal first and does only what is not done yet, so the first run, a retry
after a failure and the start-up sweep after a crash are the same code path. The two steps Comet
does not make idempotent (add-user, request-storage-vault) are marked ATTEMPTED *before* their
request goes out; a later run then looks at Comet instead of sending it again. Until add-user may
have reached Comet the account can still move to another server (failover); never after.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.comet import CometClient, CometError, CometUserExists, CometUserNotFound
from comet_provisioning.core.comet_errors import to_service_error
from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning.core.models import Product
from comet_provisioning.store import account_rows as rows
from comet_provisioning.store.account_records import Account, Failure, Status, StepState
from comet_provisioning.store.crypto import SecretBox
from comet_provisioning.store.database import Database
from comet_provisioning.store.schema import server_groups
from comet_provisioning.store.types import utcnow

from . import usernames
from .comet_calls import comet_call
from .desired import desired_profile
from .guard import KeyedLocks
from .journal import Journal
from .placement import Candidate, rank
from .ports import CometClients
from .profile import apply_quotas, comet_vault_ids, created_policy, created_policy_id

log = logging.getLogger("comet_provisioning.accounts")

T = TypeVar("T")

_MAX_NAME_ATTEMPTS = 20


class _NameTaken(Exception):
    """add-user said the name exists although it was free a moment ago: pick another."""


@dataclasses.dataclass
class ProvisionResult:
    account: Account
    generated_password: str = ""


class Provisioner:
    def __init__(self, db: Database, box: SecretBox, clients: CometClients) -> None:
        self._db = db
        self._box = box
        self._clients = clients
        self._group_locks = KeyedLocks()
        self._policy_locks = KeyedLocks()

    # -- persistence ------------------------------------------------------------------------------

    async def save(self, account: Account, journal: Journal) -> Account:
        async with self._db.transaction() as conn:
            saved = await rows.save_account(conn, account)
            await rows.add_events(conn, journal.take())
        return saved

    def seal_password(self, account_id: str, password: str) -> bytes:
        return self._box.encrypt(password, bound_to=f"account:{account_id}")

    def _open_password(self, account: Account) -> str:
        assert account.pending_password_enc is not None
        return self._box.decrypt(account.pending_password_enc, bound_to=f"account:{account.id}")

    # -- the whole run ----------------------------------------------------------------------------

    async def provision(self, account: Account, product: Product, journal: Journal) -> ProvisionResult:
        """Runs every step not done yet; on failure records FAILED with the step and re-raises."""
        step = "start"
        try:
            if account.add_user is not StepState.DONE and account.pending_password_enc is None:
                account = dataclasses.replace(
                    account,
                    pending_password_enc=self.seal_password(account.id, secrets.token_urlsafe(18)),
                    password_generated=True,
                )
            step = "create_user"
            account = await self._create_user_with_failover(account, product, journal)
            client = await self._clients.client(account.server_id)
            step = "request_vault"
            account = await self._request_vault(account, product, client, journal)
            step = "apply_quotas"
            await comet_call(account, lambda: self._apply_quotas(account, product, client, journal))
        except ServiceError as err:
            await self._fail(account, journal, step, err)
            raise
        except CometError as err:  # pragma: no cover - every Comet call goes through _comet
            service_error = to_service_error(err, account.server_id)
            await self._fail(account, journal, step, service_error)
            raise service_error from err
        generated = self._open_password(account) if account.password_generated else ""
        account = dataclasses.replace(
            account,
            status=Status.ACTIVE,
            failure=None,
            pending_password_enc=None,
            provision_time=account.provision_time or utcnow(),
        )
        journal.note("activate", "SUCCEEDED")
        return ProvisionResult(await self.save(account, journal), generated)

    async def _fail(self, account: Account, journal: Journal, step: str, err: ServiceError) -> None:
        err.metadata.setdefault("account_id", account.id)
        err.metadata.setdefault("step", step)
        # Re-read: the steps saved progress (journal states) the `account` here may predate.
        async with self._db.read() as conn:
            latest = await rows.get_account(conn, account.id) or account
        failed = dataclasses.replace(
            latest, status=Status.FAILED, failure=Failure(step=step, reason=err.reason, message=err.message)
        )
        try:
            await self.save(failed, journal)
        except rows.StaleAccount:  # pragma: no cover - the guard makes this unreachable
            log.warning("could not record a failure: the account changed", extra={"account_id": account.id})

    # -- placement and the Comet user -------------------------------------------------------------

    async def _create_user_with_failover(
        self, account: Account, product: Product, journal: Journal
    ) -> Account:
        excluded: set[str] = set()
        base = usernames.base_username(
            account.requested_username, account.customer.email, account.customer.first_name, account.id
        )
        name = account.username or base
        unavailable: ServiceError | None = None
        for _ in range(_MAX_NAME_ATTEMPTS):
            if not account.comet_user_may_exist:
                try:
                    account = await self._place(account, product, journal, excluded, name, base)
                except ServiceError as err:
                    if unavailable is not None and err.reason == "SERVER_GROUP_FULL":
                        raise unavailable from err  # every other server is full: report the outage
                    raise
                name = account.username
            client = await self._clients.client(account.server_id)
            try:
                if product.policy_group_mode == "CREATE_NEW":
                    await self._ensure_policy(account.server_id, product, client, journal)
                if not account.comet_user_may_exist and await self._user_exists(client, account, journal):
                    name = usernames.with_suffix(base)  # a user this service does not track has it
                    continue
                return await self._add_user(account, product, client, journal)
            except _NameTaken:
                name = usernames.with_suffix(base)
                continue
            except CometError as err:
                service_error = to_service_error(err, account.server_id)
                service_error.metadata["account_id"] = account.id
                if account.comet_user_may_exist or not err.retryable or not await self._failover(product):
                    raise service_error from err
                unavailable = service_error
                journal.note("failover", "SUCCEEDED", f"server {account.server_id} unavailable: {err.kind}")
                excluded.add(account.server_id)
        raise ServiceError(
            ErrorKind.ABORTED,
            "USERNAME_UNAVAILABLE",
            "could not find a free Comet username; retry",
            metadata={"account_id": account.id},
        )

    async def _failover(self, product: Product) -> bool:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    server_groups.select().where(server_groups.c.id == product.server_group_id)
                )
            ).first()
        return bool(row is not None and row.failover)

    async def _place(
        self, account: Account, product: Product, journal: Journal, excluded: set[str], name: str, base: str
    ) -> Account:
        """Chooses a server and reserves `name` on it in one transaction (unique per server among
        live accounts); a name held by another account gets the original's `_NNNN` suffix."""
        with journal.step("place") as outcome:
            for _ in range(_MAX_NAME_ATTEMPTS):
                async with self._group_locks.hold(product.server_group_id):
                    try:
                        async with self._db.transaction() as conn:
                            await conn.execute(
                                server_groups.select()
                                .where(server_groups.c.id == product.server_group_id)
                                .with_for_update()
                            )
                            counted = await rows.live_server_counts(conn, product.server_group_id)
                            candidates = rank(
                                [
                                    Candidate(
                                        server_id=row.id,
                                        # The account's own reservation is not a reason to move it.
                                        account_count=live - (1 if row.id == account.server_id else 0),
                                        max_accounts=row.max_accounts,
                                        placement_order=row.placement_order,
                                    )
                                    for row, live in counted
                                    if row.id not in excluded
                                ],
                                "FILL_IN_ORDER"
                                if await self._fill_in_order(conn, product)
                                else "LEAST_ACCOUNTS",
                            )
                            if not candidates:
                                raise ServiceError(
                                    ErrorKind.RESOURCE_EXHAUSTED,
                                    "SERVER_GROUP_FULL",
                                    "no server of the product's group can take another account",
                                    metadata={
                                        "server_group_id": product.server_group_id,
                                        "account_id": account.id,
                                    },
                                )
                            keep = next((c for c in candidates if c.server_id == account.server_id), None)
                            chosen = keep or candidates[0]
                            placed = await rows.save_account(
                                conn, dataclasses.replace(account, server_id=chosen.server_id, username=name)
                            )
                            await rows.add_events(conn, journal.take())
                    except IntegrityError:
                        name = usernames.with_suffix(base)  # held by another account on that server
                        continue
                outcome.note = f"server {placed.server_id}, username {placed.username}"
                return placed
        raise ServiceError(
            ErrorKind.ABORTED,
            "USERNAME_UNAVAILABLE",
            "could not reserve a free username; retry",
            metadata={"account_id": account.id},
        )

    async def _fill_in_order(self, conn: AsyncConnection, product: Product) -> bool:
        row = (
            await conn.execute(server_groups.select().where(server_groups.c.id == product.server_group_id))
        ).first()
        return bool(row is not None and row.placement_rule == "FILL_IN_ORDER")

    async def _user_exists(self, client: CometClient, account: Account, journal: Journal) -> bool:
        with journal.step("check_username", "get-user-profile") as outcome:
            try:
                await client.get_user_profile(account.username)
            except CometUserNotFound:
                outcome.note = "free"
                return False
            outcome.note = "taken by a user this service does not track"
            return True

    async def _ensure_policy(
        self, server_id: str, product: Product, client: CometClient, journal: Journal
    ) -> None:
        """The product's policy group exists on the server: created once, however many orders race."""
        policy_id = created_policy_id(product.id)
        async with self._policy_locks.hold((server_id, policy_id)):
            async with self._db.read() as conn:
                if await rows.policy_known(conn, server_id, policy_id):
                    return
            with journal.step("ensure_policy", "policies/set") as outcome:
                if await client.get_policy(policy_id) is None:
                    await client.set_policy(policy_id, created_policy(product.name))
                else:
                    outcome.skipped("already on the server")
            async with self._db.transaction() as conn:
                await rows.mark_policy(conn, server_id, policy_id, product.id)

    async def _add_user(
        self, account: Account, product: Product, client: CometClient, journal: Journal
    ) -> Account:
        if account.add_user is StepState.DONE:
            return account
        if account.add_user is StepState.ATTEMPTED:
            # An earlier attempt may have created the user and lost the reply.
            with journal.step("add_user", "get-user-profile") as outcome:
                try:
                    await client.get_user_profile(account.username)
                    outcome.skipped("created by an earlier attempt")
                    found = True
                except CometUserNotFound:
                    found = False
            if found:
                return await self.save(dataclasses.replace(account, add_user=StepState.DONE), journal)
        account = await self.save(dataclasses.replace(account, add_user=StepState.ATTEMPTED), journal)
        try:
            with journal.step("add_user", "add-user"):
                await client.add_user(
                    account.username,
                    self._open_password(account),
                    require_password_change=product.require_password_change,
                )
        except CometUserExists as err:
            await self.save(dataclasses.replace(account, add_user=StepState.NOT_STARTED), journal)
            raise _NameTaken(account.username) from err
        except CometError as err:
            if not err.reached_server:
                account = await self.save(
                    dataclasses.replace(account, add_user=StepState.NOT_STARTED), journal
                )
            raise
        return await self.save(dataclasses.replace(account, add_user=StepState.DONE), journal)

    async def _request_vault(
        self, account: Account, product: Product, client: CometClient, journal: Journal
    ) -> Account:
        if not product.storage_provider_id or account.vault is StepState.DONE:
            return account
        if account.vault is StepState.ATTEMPTED:
            with journal.step("request_vault", "get-user-profile") as outcome:
                profile = await comet_call(account, lambda: client.get_user_profile(account.username))
                found = comet_vault_ids(profile)
                if found:
                    outcome.skipped("created by an earlier attempt")
            if found:
                return await self.save(
                    dataclasses.replace(account, vault=StepState.DONE, vault_id=found[0]), journal
                )
        account = await self.save(dataclasses.replace(account, vault=StepState.ATTEMPTED), journal)
        try:
            with journal.step("request_vault", "request-storage-vault"):
                vault_id = await comet_call(
                    account,
                    lambda: client.request_storage_vault(account.username, product.storage_provider_id),
                )
        except ServiceError as err:
            cause = err.__cause__
            if isinstance(cause, CometError) and not cause.reached_server:
                await self.save(dataclasses.replace(account, vault=StepState.NOT_STARTED), journal)
            raise
        return await self.save(dataclasses.replace(account, vault=StepState.DONE, vault_id=vault_id), journal)

    async def _apply_quotas(
        self, account: Account, product: Product, client: CometClient, journal: Journal
    ) -> None:
        desired = desired_profile(product, account.options)
        with journal.step("apply_quotas", "set-user-profile-hash"):
            await client.update_user_profile(account.username, lambda profile: apply_quotas(profile, desired))

    async def apply_quotas(self, account: Account, product: Product, journal: Journal) -> None:
        """Re-applies quotas and policy (change package, drift repair)."""
        client = await self._clients.client(account.server_id)
        if product.policy_group_mode == "CREATE_NEW":
            await comet_call(
                account, lambda: self._ensure_policy(account.server_id, product, client, journal)
            )
        await comet_call(account, lambda: self._apply_quotas(account, product, client, journal))
