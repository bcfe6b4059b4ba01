"""Provisioning as a resumable reconcile: place, reserve a username, make sure the product's policy
group exists, create the Comet user, request the initial vault, apply quotas and policy.

Every run reads the journal first and does only what is not done yet, so the first run, a retry
after a failure and the start-up sweep after a crash are the same code path.

The journal is written where a crash would otherwise repeat a non-idempotent Comet call, and
nowhere else, so the happy path costs two write transactions:

- placement reserves the username on a server (a unique index per server) and marks add-user
  ATTEMPTED in the same transaction, *before* add-user goes out. A later run that finds ATTEMPTED
  asks Comet whether the user exists instead of sending add-user again. A name already taken on
  Comet by a user this service does not track comes back as "user exists" on the first attempt,
  and the account gets the original module's `_NNNN` suffix instead.
- the initial vault needs no mark of its own: a run that did not create the user itself looks at
  the profile before requesting a vault (a new user has none, so any Comet vault is ours).
- the final transaction records DONE, ACTIVE and releases the account's lease at once.

Until add-user may have reached Comet the account can still move to another server (failover);
never after.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import secrets
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.comet import CometClient, CometError, CometUserExists, CometUserNotFound
from comet_provisioning.core.comet_errors import to_service_error
from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning.core.models import Product
from comet_provisioning.core.secrets import open_account_password
from comet_provisioning.store import account_rows as rows
from comet_provisioning.store.account_records import Account, Failure, Status, StepState
from comet_provisioning.store.crypto import SecretBox
from comet_provisioning.store.database import Database
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

_MAX_NAME_ATTEMPTS = 20


class _NameTaken(Exception):
    """add-user said the name exists although this account never sent add-user: pick another."""


class CreateRequestTaken(Exception):
    """Inserting a new account lost to a concurrent order with the same request id."""


@dataclasses.dataclass
class ProvisionResult:
    account: Account
    generated_password: str = ""


@dataclasses.dataclass(frozen=True)
class _Group:
    rule: str
    failover: bool


class Provisioner:
    def __init__(
        self, db: Database, box: SecretBox, clients: CometClients, owner: str, lease_ttl: dt.timedelta
    ) -> None:
        self._db = db
        self._box = box
        self._clients = clients
        self._owner = owner
        self._lease_ttl = lease_ttl
        self._group_locks = KeyedLocks()
        self._policy_locks = KeyedLocks()
        self._known_policies: set[tuple[str, str]] = set()

    # -- persistence ------------------------------------------------------------------------------

    async def save(self, account: Account, journal: Journal, *, release_lease: bool = False) -> Account:
        async with self._db.transaction() as conn:
            saved = await rows.save_account(conn, account, release_lease=release_lease)
            await rows.add_events(conn, journal.take())
        return saved

    def seal_password(self, account_id: str, password: str) -> bytes:
        return self._box.encrypt(password, bound_to=f"account:{account_id}")

    def _open_password(self, account: Account) -> str:
        assert account.pending_password_enc is not None
        return open_account_password(self._box, account.pending_password_enc, account_id=account.id)

    def _with_password(self, account: Account) -> Account:
        """The password add-user will use: the customer's (sealed at order time) or a generated one,
        sealed so a resumed run after a crash uses the same one. Erased once the account is ACTIVE."""
        if account.add_user is StepState.DONE or account.pending_password_enc is not None:
            return account
        return dataclasses.replace(
            account,
            pending_password_enc=self.seal_password(account.id, secrets.token_urlsafe(18)),
            password_generated=True,
        )

    # -- a new order ------------------------------------------------------------------------------

    async def record_and_place(self, account: Account, product: Product, journal: Journal) -> Account:
        """Inserts a new order already placed, its username reserved, add-user ATTEMPTED and this
        process's lease on it: one transaction. Raises CreateRequestTaken if a concurrent order
        with the same request id won."""
        account = self._with_password(account)
        lease_until = utcnow() + self._lease_ttl

        async def insert(conn: AsyncConnection, placed: Account) -> Account:
            await rows.insert_account(conn, placed, lease_owner=self._owner, lease_until=lease_until)
            return placed

        async def request_id_taken() -> None:
            if account.create_request_id:
                async with self._db.read_one() as conn:
                    if await rows.get_by_create_request(conn, account.create_request_id) is not None:
                        raise CreateRequestTaken(account.create_request_id)

        # The order's events are written with the account's final state (one write fewer on the
        # hot path); after a crash in between, the resumed run logs what it does.
        return await self._place(
            account, product, journal, set(), write=insert, on_conflict=request_id_taken, log_events=False
        )

    # -- the whole run ----------------------------------------------------------------------------

    async def provision(
        self, account: Account, product: Product, journal: Journal, *, placed_now: bool = False
    ) -> ProvisionResult:
        """Runs every step not done yet; on failure records FAILED with the step and re-raises.
        The final save releases this process's lease on the account. `placed_now`: the account
        was placed by this run (record_and_place), so its ATTEMPTED mark is not from an earlier one."""
        step = "create_user"
        try:
            account = self._with_password(account)
            account, created_now = await self._create_user(account, product, journal, placed_now)
            client = await self._clients.client(account.server_id)
            step = "request_vault"
            account = await self._request_vault(account, product, client, journal, created_now)
            step = "apply_quotas"
            desired = desired_profile(product, account.options)
            with journal.step("apply_quotas", "set-user-profile-hash"):
                await comet_call(
                    account,
                    lambda: client.update_user_profile(account.username, lambda p: apply_quotas(p, desired)),
                )
        except ServiceError as err:
            await self._fail(account, journal, step, err)
            raise
        generated = self._open_password(account) if account.password_generated else ""
        account = dataclasses.replace(
            account,
            status=Status.ACTIVE,
            add_user=StepState.DONE,
            failure=None,
            pending_password_enc=None,
            provision_time=account.provision_time or utcnow(),
        )
        journal.note("activate", "SUCCEEDED")
        return ProvisionResult(await self.save(account, journal, release_lease=True), generated)

    async def _fail(self, account: Account, journal: Journal, step: str, err: ServiceError) -> None:
        err.metadata.setdefault("account_id", account.id)
        err.metadata.setdefault("step", step)
        # The stored journal, not the in-memory progress: what this run did without writing it down
        # (a user or vault created) the next run finds on Comet.
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

    async def _create_user(
        self, account: Account, product: Product, journal: Journal, placed_now: bool
    ) -> tuple[Account, bool]:
        """The Comet user exists afterwards; True if this run created it."""
        excluded: set[str] = set()
        base = usernames.base_username(
            account.requested_username, account.customer.email, account.customer.first_name, account.id
        )
        unavailable: ServiceError | None = None
        for _ in range(_MAX_NAME_ATTEMPTS):
            if not account.comet_user_may_exist:
                try:
                    account = await self._place(
                        account, product, journal, excluded, name=account.username or base
                    )
                except ServiceError as err:
                    if unavailable is not None and err.reason == "SERVER_GROUP_FULL":
                        raise unavailable from err  # every other server is full: report the outage
                    raise
                attempted_before = False
            else:
                attempted_before = account.add_user is StepState.ATTEMPTED and not placed_now
            placed_now = False
            if account.add_user is StepState.DONE:
                return account, False
            client = await self._clients.client(account.server_id)
            sent = False
            try:
                if product.policy_group_mode == "CREATE_NEW":
                    await self._ensure_policy(account.server_id, product, client, journal)
                if attempted_before and await self._user_exists(client, account, journal):
                    return dataclasses.replace(account, add_user=StepState.DONE), False
                sent = True
                await self._add_user(account, product, client, journal)
                return dataclasses.replace(account, add_user=StepState.DONE), True
            except _NameTaken:
                account = await self._unplace(account, journal, server_id=account.server_id)
                account = dataclasses.replace(account, username=usernames.with_suffix(base))
            except CometError as err:
                service_error = to_service_error(err, account.server_id)
                service_error.metadata["account_id"] = account.id
                may_exist = attempted_before or (sent and err.reached_server)
                if may_exist or not err.retryable or not (await self._group(product)).failover:
                    raise service_error from err
                # add-user provably never reached Comet: the account may still move.
                unavailable = service_error
                journal.note("failover", "SUCCEEDED", f"server {account.server_id} unavailable: {err.kind}")
                excluded.add(account.server_id)
                account = await self._unplace(account, journal, server_id=account.server_id)
        raise ServiceError(
            ErrorKind.ABORTED,
            "USERNAME_UNAVAILABLE",
            "could not find a free Comet username; retry",
            metadata={"account_id": account.id},
        )

    async def _unplace(self, account: Account, journal: Journal, *, server_id: str) -> Account:
        """add-user provably did not create the user: back to NOT_STARTED, ready to place again."""
        return await self.save(dataclasses.replace(account, add_user=StepState.NOT_STARTED), journal)

    async def _group(self, product: Product, conn: AsyncConnection | None = None) -> _Group:
        if conn is None:
            async with self._db.read_one() as reader:
                row = await rows.group_placement(reader, product.server_group_id, lock=False)
        else:
            row = await rows.group_placement(conn, product.server_group_id, lock=True)
        if row is None:
            return _Group("LEAST_ACCOUNTS", False)
        return _Group(row["placement_rule"], bool(row["failover"]))

    async def _place(
        self,
        account: Account,
        product: Product,
        journal: Journal,
        excluded: set[str],
        *,
        name: str = "",
        write: Any = None,
        on_conflict: Any = None,
        log_events: bool = True,
    ) -> Account:
        """Chooses a server and reserves the username on it, add-user ATTEMPTED, in one transaction
        (unique per server among live accounts); a name held by another account gets a suffix.
        `write(conn, placed)` stores the placed account (default: an optimistic update)."""
        base = usernames.base_username(
            account.requested_username, account.customer.email, account.customer.first_name, account.id
        )
        name = name or base
        with journal.step("place") as outcome:
            for _ in range(_MAX_NAME_ATTEMPTS):
                async with self._group_locks.hold(product.server_group_id):
                    try:
                        async with self._db.transaction() as conn:
                            group = await self._group(product, conn)
                            counted = await rows.live_server_counts(conn, product.server_group_id)
                            candidates = rank(
                                [
                                    Candidate(
                                        server_id=row["id"],
                                        # The account's own reservation is not a reason to move it.
                                        account_count=live - (1 if row["id"] == account.server_id else 0),
                                        max_accounts=row["max_accounts"],
                                        placement_order=row["placement_order"],
                                    )
                                    for row, live in counted
                                    if row["id"] not in excluded
                                ],
                                group.rule,
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
                            placed = dataclasses.replace(
                                account,
                                server_id=(keep or candidates[0]).server_id,
                                username=name,
                                add_user=StepState.ATTEMPTED,
                            )
                            outcome.note = f"server {placed.server_id}, username {placed.username}"
                            if write is None:
                                placed = await rows.save_account(conn, placed)
                            else:
                                placed = await write(conn, placed)
                            if log_events:
                                await rows.add_events(conn, journal.take())
                    except IntegrityError:
                        if on_conflict is not None:
                            await on_conflict()  # raises when the conflict is not the username
                        name = usernames.with_suffix(base)  # held by another account on that server
                        continue
                return placed
        raise ServiceError(
            ErrorKind.ABORTED,
            "USERNAME_UNAVAILABLE",
            "could not reserve a free username; retry",
            metadata={"account_id": account.id},
        )

    async def _user_exists(self, client: CometClient, account: Account, journal: Journal) -> bool:
        with journal.step("add_user", "get-user-profile") as outcome:
            try:
                await client.get_user_profile(account.username)
            except CometUserNotFound:
                return False
            outcome.skipped("created by an earlier attempt whose reply was lost")
            return True

    async def _ensure_policy(
        self, server_id: str, product: Product, client: CometClient, journal: Journal
    ) -> None:
        """The product's policy group exists on the server: created once, however many orders race."""
        policy_id = created_policy_id(product.id)
        key = (server_id, policy_id)
        if key in self._known_policies:
            return
        async with self._policy_locks.hold(key):
            if key in self._known_policies:
                return
            async with self._db.read() as conn:
                known = await rows.policy_known(conn, server_id, policy_id)
            if not known:
                with journal.step("ensure_policy", "policies/set") as outcome:
                    if await client.get_policy(policy_id) is None:
                        await client.set_policy(policy_id, created_policy(product.name))
                    else:
                        outcome.skipped("already on the server")
                async with self._db.transaction() as conn:
                    await rows.mark_policy(conn, server_id, policy_id, product.id)
            self._known_policies.add(key)

    async def _add_user(
        self, account: Account, product: Product, client: CometClient, journal: Journal
    ) -> None:
        try:
            with journal.step("add_user", "add-user"):
                await client.add_user(
                    account.username,
                    self._open_password(account),
                    require_password_change=product.require_password_change,
                )
        except CometUserExists as err:
            raise _NameTaken(account.username) from err

    async def _request_vault(
        self, account: Account, product: Product, client: CometClient, journal: Journal, created_now: bool
    ) -> Account:
        if not product.storage_provider_id or account.vault is StepState.DONE:
            return account
        if not created_now:
            # An earlier run may have requested it and lost the reply: a new user has no vaults.
            with journal.step("request_vault", "get-user-profile") as outcome:
                profile = await comet_call(account, lambda: client.get_user_profile(account.username))
                found = comet_vault_ids(profile)
                if found:
                    outcome.skipped("created by an earlier attempt")
            if found:
                return dataclasses.replace(account, vault=StepState.DONE, vault_id=found[0])
        with journal.step("request_vault", "request-storage-vault"):
            vault_id = await comet_call(
                account, lambda: client.request_storage_vault(account.username, product.storage_provider_id)
            )
        return dataclasses.replace(account, vault=StepState.DONE, vault_id=vault_id)

    async def apply_quotas(self, account: Account, product: Product, journal: Journal) -> None:
        """Re-applies quotas and policy (change package, drift repair)."""
        client = await self._clients.client(account.server_id)
        if product.policy_group_mode == "CREATE_NEW":
            await comet_call(
                account, lambda: self._ensure_policy(account.server_id, product, client, journal)
            )
        desired = desired_profile(product, account.options)
        with journal.step("apply_quotas", "set-user-profile-hash"):
            await comet_call(
                account,
                lambda: client.update_user_profile(account.username, lambda p: apply_quotas(p, desired)),
            )
