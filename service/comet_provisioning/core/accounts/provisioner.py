"""Provisioning as a resumable reconcile: place, reserve a username, make sure the product's policy
group exists, create the Comet user, request the initial vault, apply quotas and policy.

Every run reads the journal first and does only what is not done yet, so the first run, a retry
after a failure and the background sweep after a crash are the same code path.

The journal is written where a crash would otherwise repeat a non-idempotent Comet call, and
nowhere else, so the happy path costs two write transactions:

- placement reserves the username on a server (a unique index per server) and marks add-user
  ATTEMPTED in the same transaction, with the start of the attempt on Comet's clock, *before*
  add-user goes out. Whenever add-user's outcome is unknown (a lost reply, a proxy error, a crash)
  or it was refused, Comet's state decides: a user of that name whose CreateTime falls inside the
  account's attempt window is its own (`ownership.py`); one created before is someone else's, is
  never written to, and the account moves on to the original module's `_NNNN` suffix.
- the initial vault needs no mark of its own: a run that did not create the user itself looks at
  the profile before requesting a vault (a new user has none, so any Comet vault is ours).
- the final transaction records DONE, ACTIVE and releases the account's lease at once.

A transient failure (Comet unreachable, a proxy's 5xx, a lost reply) keeps the account PENDING and
schedules another run (`retry_schedule.py`); only a failure no retry can fix, or the deadline, ends
it FAILED. Either way a Comet user this service created is left with the product's limits applied
or suspended, never as an unlimited backup account (`contain`).

Until add-user may have reached Comet the account can still move to another server (failover);
never after.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from comet_provisioning.comet import CometClient, CometError, CometHashConflict, ProfileAndHash
from comet_provisioning.comet.models import RequestedVault, UpdatedProfile
from comet_provisioning.core.clock import Clock, SystemClock
from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning.core.models import Product
from comet_provisioning.core.secrets import open_account_password
from comet_provisioning.core.unit_of_work import Store, UnitOfWork
from comet_provisioning.crypto import SecretBox

from .comet_calls import account_client, comet_call
from .comet_user import CometUsers, Run, no_attempt, owned, settle
from .desired import desired_profile
from .journal import Journal
from .leases import HeldAccount
from .model import Account, Failure, LimitsState, Origin, StaleAccount, Status, StepState
from .ownership import Ownership
from .policy_groups import PolicyGroups
from .ports import CometClients
from .profile import apply_quotas, comet_vault_ids, set_suspended
from .repository import LeaseClaim
from .retry_schedule import RetrySchedule, is_transient
from .server_choice import ServerChoice

log = logging.getLogger("comet_provisioning.accounts")

DEFAULT_PASSWORD_RETENTION = dt.timedelta(days=1)
_MAX_VAULT_CHECKS = 3


@dataclasses.dataclass
class ProvisionResult:
    account: Account
    generated_password: str = ""


class Provisioner:
    def __init__(
        self,
        store: Store,
        box: SecretBox,
        clients: CometClients,
        *,
        schedule: RetrySchedule | None = None,
        password_retention: dt.timedelta = DEFAULT_PASSWORD_RETENTION,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._box = box
        self._clients = clients
        self._schedule = schedule or RetrySchedule()
        self._password_retention = password_retention
        self._clock = clock or SystemClock()
        self._policies = PolicyGroups(store)
        self._choice = ServerChoice(store, clients)
        self._users = CometUsers(clients, self._choice, self._policies, self.save, self.open_password)

    # -- persistence ------------------------------------------------------------------------------

    async def save(self, account: Account, journal: Journal, *, held: HeldAccount | None = None) -> Account:
        """Writes the account and the journal's events together; with `held`, the account's lease
        ends in the same write."""
        async with self._store.write() as uow:
            saved = await uow.accounts.save(account, end_lease=held is not None)
            await uow.events.add(journal.take())
        if held is not None:
            held.lease_ended_by_write()
        return saved

    async def log_failure(self, journal: Journal) -> None:
        """The steps of an operation that failed: the log has every step and its outcome."""
        events = journal.take()
        if events:
            async with self._store.write() as uow:
                await uow.events.add(events)

    def seal_password(self, account_id: str, password: str) -> bytes:
        return self._box.encrypt(password, bound_to=f"account:{account_id}")

    def open_password(self, account: Account) -> str:
        assert account.pending_password_enc is not None
        return open_account_password(self._box, account.pending_password_enc, account_id=account.id)

    def _with_password(self, account: Account) -> Account:
        """The password add-user will use: the customer's (sealed at order time) or a generated one,
        sealed so a resumed run after a crash uses the same one."""
        if account.add_user is StepState.DONE or account.pending_password_enc is not None:
            return account
        return dataclasses.replace(
            account,
            pending_password_enc=self.seal_password(account.id, secrets.token_urlsafe(18)),
            password_generated=True,
        )

    # -- a new order ------------------------------------------------------------------------------

    async def record_and_place(
        self,
        account: Account,
        product: Product,
        journal: Journal,
        lease: LeaseClaim,
        record: Callable[[UnitOfWork], Awaitable[None]],
    ) -> Account:
        """Inserts a new order already placed, its username reserved, add-user ATTEMPTED, this
        process's lease on it and its request id recorded (`record`): one transaction."""
        return await self._choice.place(
            self._with_password(account), product, journal, set(), lease=lease, record=record
        )

    # -- the whole run ----------------------------------------------------------------------------

    async def provision(
        self,
        account: Account,
        product: Product,
        journal: Journal,
        *,
        held: HeldAccount,
        placed_now: bool = False,
        caller: bool = True,
    ) -> ProvisionResult:
        """Runs every step not done yet. On failure records the retry or the FAILED state (see the
        module docstring) and re-raises. The final save releases this process's lease.

        `placed_now`: record_and_place placed the account in this run. `caller`: the result goes
        back to whoever asked, so a generated password is handed over now rather than kept sealed.
        """
        run = Run(self._with_password(account), placed_now=placed_now)
        step = "create_user"
        try:
            account = await self._users.ensure(product, journal, run)
            client = await account_client(self._clients, account)
            step = "request_vault"
            account, current = await self._request_vault(account, product, client, journal, run)
            run.account = account
            step = "apply_quotas"
            await self._apply_limits(account, product, client, journal, current)
        except ServiceError as err:
            await self._after_failure(run.account, product, journal, step, err, run)
            raise
        return await self._activate(account, journal, held, caller=caller)

    async def _activate(
        self, account: Account, journal: Journal, held: HeldAccount, *, caller: bool
    ) -> ProvisionResult:
        """ACTIVE with the limits in force, the lease ended in the same write. A generated password
        stays sealed for the retention: the reply that carries it may never reach the caller (its
        deadline passes, the process stops), so every retry of the order within that time gets it
        again; past it the sweep erases it. A customer's own password is erased at once."""
        generated = self.open_password(account) if account.password_generated else ""
        now = self._clock.now()
        account = dataclasses.replace(
            owned(account),
            status=Status.ACTIVE,
            limits_state=LimitsState.APPLIED,
            failure=None,
            next_attempt_time=None,
            provision_deadline=None,
            provision_attempts=0,
            pending_password_enc=account.pending_password_enc if generated else None,
            generated_password_expire_time=now + self._password_retention if generated else None,
            provision_time=account.provision_time or now,
        )
        journal.note("activate", "SUCCEEDED")
        saved = await self.save(account, journal, held=held)
        return ProvisionResult(saved, generated if caller else "")

    def sealed_password(self, account: Account) -> str:
        """A generated password still within its retention ("" when there is none)."""
        if account.pending_password_enc is None or not account.password_generated:
            return ""
        if account.status not in (Status.ACTIVE, Status.SUSPENDED):
            return ""
        return self.open_password(account)

    # -- failures ---------------------------------------------------------------------------------

    async def _after_failure(
        self, account: Account, product: Product, journal: Journal, step: str, err: ServiceError, run: Run
    ) -> None:
        err.metadata.setdefault("account_id", account.id)
        err.metadata.setdefault("step", step)
        if run.placed_now and not run.sent and account.add_user is StepState.ATTEMPTED:
            account = no_attempt(account)  # this run's add-user never went out
        now = self._clock.now()
        failure = Failure(step=step, reason=err.reason, message=err.message)
        deadline = account.provision_deadline or self._schedule.deadline(now)
        if is_transient(err) and now < deadline:
            attempts = account.provision_attempts + 1
            account = dataclasses.replace(
                account,
                status=Status.PENDING,
                failure=failure,
                provision_attempts=attempts,
                next_attempt_time=self._schedule.next_attempt(now, attempts),
                provision_deadline=deadline,
                limits_state=LimitsState.PENDING
                if account.comet_user_may_exist
                else LimitsState.NO_COMET_USER,
            )
            assert account.next_attempt_time is not None
            err.metadata["next_attempt_time"] = account.next_attempt_time.isoformat()
            journal.note("retry", "SCHEDULED", f"next attempt at {account.next_attempt_time.isoformat()}")
        else:
            account = dataclasses.replace(
                account, status=Status.FAILED, failure=failure, next_attempt_time=None, provision_attempts=0
            )
            account = await self._contain(account, product, journal)
        try:
            await self.save(account, journal)
        except StaleAccount:  # pragma: no cover - the guard makes this unreachable
            log.warning("could not record a failure: the account changed", extra={"account_id": account.id})

    async def contain(self, account: Account, product: Product | None, journal: Journal) -> Account:
        """For a FAILED account: makes sure its Comet user (if it has one of ours) carries the
        product's limits or is suspended, and saves what it found."""
        return await self.save(await self._contain(account, product, journal), journal)

    async def _contain(self, account: Account, product: Product | None, journal: Journal) -> Account:
        """The limits on a Comet user provisioning gave up on: applied, or else the user suspended.
        A transient failure leaves limits PENDING with a time for the sweep to try again."""
        if not account.comet_user_may_exist:
            return dataclasses.replace(account, limits_state=LimitsState.NO_COMET_USER)
        try:
            client = await account_client(self._clients, account)
            if account.add_user is StepState.ATTEMPTED:
                verdict = await settle(client, account, journal)
                if verdict is not Ownership.OURS:
                    return dataclasses.replace(no_attempt(account), limits_state=LimitsState.NO_COMET_USER)
                account = owned(account)
            if account.comet_user_origin is Origin.NONE:
                return account  # not ours: nothing of it is ever written
            if product is not None:
                try:
                    await self._apply_limits(account, product, client, journal)
                    return dataclasses.replace(
                        account, limits_state=LimitsState.APPLIED, next_attempt_time=None
                    )
                except ServiceError as err:
                    if is_transient(err):
                        raise
            with journal.step("contain", "set-user-profile-hash"):
                await comet_call(
                    account,
                    lambda: client.update_user_profile(account.username, lambda p: set_suspended(p, True)),
                )
            return dataclasses.replace(account, limits_state=LimitsState.SUSPENDED, next_attempt_time=None)
        except (ServiceError, CometError) as err:
            if isinstance(err, ServiceError) and not is_transient(err):
                log.error(
                    "a Comet user could be neither limited nor suspended",
                    extra={"account_id": account.id, "reason": err.reason},
                )
            now = self._clock.now()
            attempts = account.provision_attempts + 1
            journal.note("contain", "FAILED", str(err)[:500])
            return dataclasses.replace(
                account,
                limits_state=LimitsState.PENDING,
                provision_attempts=attempts,
                next_attempt_time=self._schedule.next_attempt(now, attempts),
            )

    # -- the vault and the limits -----------------------------------------------------------------

    async def _request_vault(
        self, account: Account, product: Product, client: CometClient, journal: Journal, run: Run
    ) -> tuple[Account, ProfileAndHash | None]:
        """The account's initial vault exists afterwards. Also returns the profile and hash as
        Comet holds them now when a reply carried them (Comet 25.6.8+), so the limits can be
        written without reading the profile again: a create is then three dependent calls."""
        if not product.storage_provider_id or account.vault is StepState.DONE:
            return account, None
        conditional = client.server_info is not None and client.server_info.version.profile_in_write_replies

        async def request(profile_hash: str | None) -> RequestedVault:
            return await client.request_storage_vault(
                account.username, product.storage_provider_id, profile_hash=profile_hash
            )

        for _ in range(_MAX_VAULT_CHECKS):
            current: ProfileAndHash | None = None
            if not run.created:
                # An earlier run may have requested it and lost the reply: a new user has no vaults.
                with journal.step("request_vault", "get-user-profile-and-hash") as outcome:
                    current = await comet_call(
                        account, lambda: client.get_user_profile_and_hash(account.username)
                    )
                    found = comet_vault_ids(current.profile)
                    if found:
                        outcome.skipped("created by an earlier attempt")
                if found:
                    return dataclasses.replace(account, vault=StepState.DONE, vault_id=found[0]), current
            # Conditional on the hash just read (25.6.8+): should a request this account sent
            # earlier land in between (its reply was lost, it was still in flight), Comet refuses
            # this one instead of adding a second vault, and the profile is read again.
            profile_hash = current.hash if current is not None and conditional else None
            try:
                with journal.step("request_vault", "request-storage-vault"):
                    vault = await comet_call(account, functools.partial(request, profile_hash))
            except ServiceError as err:
                if profile_hash is None or not isinstance(err.__cause__, CometHashConflict):
                    raise
                continue
            known = (
                ProfileAndHash(vault.profile, vault.profile_hash)
                if vault.profile is not None and vault.profile_hash
                else None
            )
            return dataclasses.replace(account, vault=StepState.DONE, vault_id=vault.destination_id), known
        raise ServiceError(
            ErrorKind.ABORTED,
            "PROFILE_KEEPS_CHANGING",
            "the Comet user's profile changed during every vault request; retry",
            metadata={"account_id": account.id},
        )

    async def _apply_limits(
        self,
        account: Account,
        product: Product,
        client: CometClient,
        journal: Journal,
        current: ProfileAndHash | None = None,
    ) -> UpdatedProfile:
        """Quotas and policy as the product says; a user suspended only because its limits could
        not be applied earlier is released at the same time. `current`: the profile and hash a
        previous write of this run returned (one read fewer)."""
        if product.policy_group_mode == "CREATE_NEW":
            await comet_call(
                account, lambda: self._policies.ensure(account.server_id, product, client, journal)
            )
        desired = desired_profile(product, account.options)
        release = account.limits_state is LimitsState.SUSPENDED and account.status is not Status.SUSPENDED

        def mutate(profile: dict[str, Any]) -> bool:
            changed = apply_quotas(profile, desired)
            return set_suspended(profile, False) or changed if release else changed

        with journal.step("apply_quotas", "set-user-profile-hash"):
            return await comet_call(
                account, lambda: client.update_user_profile(account.username, mutate, current=current)
            )

    async def apply_quotas(self, account: Account, product: Product, journal: Journal) -> UpdatedProfile:
        """Re-applies quotas and policy (change package, drift repair); the profile as written."""
        client = await account_client(self._clients, account)
        return await self._apply_limits(account, product, client, journal)
