"""The original module's commands on an existing account, made idempotent and safe to repeat:
provision (accept or resume), suspend, unsuspend, terminate, change password, change package.

Each runs alone on its account (it takes the `HeldAccount` only the guard gives out) and converges
Comet to what the account says: repeating a command whose result already holds succeeds without
changing anything on Comet (suspending twice also puts IsSuspended back if someone changed it by
hand). A command not allowed in the account's status is FAILED_PRECONDITION. Comet users are only
ever written when this service created them or an operator imported them.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

from comet_provisioning.comet import CometUserNotFound
from comet_provisioning.core.catalog import resolve_quantities
from comet_provisioning.core.clock import Clock, SystemClock
from comet_provisioning.core.errors import ErrorKind, ServiceError, Violations

from .comet_calls import account_client, comet_call
from .comet_user import no_attempt, owned, settle
from .errors import wrong_status
from .journal import Journal
from .leases import HeldAccount
from .model import Account, LimitsState, Status, StepState
from .ownership import Ownership
from .ports import CometClients
from .product_cache import RecentProducts
from .profile import set_suspended
from .provisioner import Provisioner, ProvisionResult
from .queries import AccountQueries
from .validation import check_password, check_reason

__all__ = ["AccountCommands"]

_LIVE = (Status.ACTIVE, Status.SUSPENDED)


class AccountCommands:
    def __init__(
        self,
        queries: AccountQueries,
        products: RecentProducts,
        provisioner: Provisioner,
        clients: CometClients,
        *,
        clock: Clock | None = None,
    ) -> None:
        self._queries = queries
        self._products = products
        self._provisioner = provisioner
        self._clients = clients
        self._clock = clock or SystemClock()

    async def _account(self, held: HeldAccount, operation: str, allowed: tuple[Status, ...]) -> Account:
        account = await self._queries.load(held.account_id)
        if account.status not in allowed:
            raise wrong_status(account, operation)
        return account

    @contextlib.asynccontextmanager
    async def _logged(self, journal: Journal) -> AsyncIterator[None]:
        """A command that fails still leaves its steps, the failed one included, in the log."""
        try:
            yield
        except Exception:
            await self._provisioner.log_failure(journal)
            raise

    async def _save(self, held: HeldAccount, account: Account, journal: Journal) -> Account:
        """The command's last write, which also ends its lease."""
        return await self._provisioner.save(account, journal, held=held)

    # -- provisioning -----------------------------------------------------------------------------

    async def provision(
        self, held: HeldAccount, request_id: str, *, operation: str = "provision", caller: bool = True
    ) -> ProvisionResult:
        """Accepts a PENDING order or resumes a FAILED or unfinished one (at once, whatever its
        retry schedule says). On an ACTIVE account, hands over a generated password no reply has
        carried yet."""
        account = await self._queries.load(held.account_id)
        if account.status is Status.TERMINATED:
            raise wrong_status(account, operation)
        if account.status in _LIVE:
            return ProvisionResult(account, self._provisioner.sealed_password(account))
        product = await self._products.fresh(account.product_id)
        if operation == "provision" and (not account.provision_requested or account.status is Status.FAILED):
            # An operator's go: a FAILED account gets a fresh retry deadline.
            account = await self._provisioner.save(
                dataclasses.replace(account, provision_requested=True, provision_deadline=None),
                Journal(account.id, operation),
            )
        journal = Journal(account.id, operation, request_id)
        return await self._provisioner.provision(account, product, journal, held=held, caller=caller)

    async def contain(self, held: HeldAccount) -> Account:
        """For a FAILED account: its Comet user carries the product's limits or is suspended."""
        account = await self._queries.load(held.account_id)
        product = await self._products.fresh_or_none(account.product_id)
        return await self._provisioner.contain(account, product, Journal(account.id, "contain"))

    async def reapply_quotas(self, held: HeldAccount) -> Account:
        """Quotas and policy applied again (drift repair)."""
        account = await self._queries.load(held.account_id)
        product = await self._products.fresh(account.product_id)
        journal = Journal(account.id, "repair")
        await self._provisioner.apply_quotas(account, product, journal)
        return await self._save(held, account, journal)

    # -- suspension -------------------------------------------------------------------------------

    async def suspend(self, held: HeldAccount, reason: str, request_id: str) -> Account:
        violations = Violations()
        check_reason(violations, reason)
        violations.raise_if_any()
        account = await self._account(held, "suspend", _LIVE)
        journal = Journal(account.id, "suspend", request_id)
        async with self._logged(journal):
            # Also when already SUSPENDED here: Comet may have been changed by hand since.
            await self._set_suspended(account, True, journal)
        suspended = dataclasses.replace(
            account, status=Status.SUSPENDED, suspend_reason=reason or account.suspend_reason
        )
        return await self._save(held, suspended, journal)

    async def unsuspend(self, held: HeldAccount, request_id: str) -> Account:
        account = await self._account(held, "unsuspend", _LIVE)
        journal = Journal(account.id, "unsuspend", request_id)
        async with self._logged(journal):
            await self._set_suspended(account, False, journal)
        return await self._save(
            held, dataclasses.replace(account, status=Status.ACTIVE, suspend_reason=""), journal
        )

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

    # -- the end ----------------------------------------------------------------------------------

    async def terminate(
        self, held: HeldAccount, *, uninstall: bool, remove_config: bool, request_id: str
    ) -> Account:
        account = await self._queries.load(held.account_id)
        if account.status is Status.TERMINATED:
            return account
        journal = Journal(account.id, "terminate", request_id)
        async with self._logged(journal):
            if account.add_user is StepState.ATTEMPTED and account.username and account.server_id:
                # add-user's outcome was never settled: delete only a user provably this account's.
                client = await account_client(self._clients, account)
                verdict = await comet_call(account, lambda: settle(client, account, journal))
                account = owned(account) if verdict is Ownership.OURS else no_attempt(account)
            if account.owns_comet_user and account.username and account.server_id:
                await self._delete_user(account, journal, uninstall=uninstall, remove_config=remove_config)
            else:
                journal.note("delete_user", "SKIPPED", "no Comet user of this account exists")
        terminated = dataclasses.replace(
            account,
            status=Status.TERMINATED,
            provision_requested=False,
            pending_password_enc=None,
            generated_password_expire_time=None,
            next_attempt_time=None,
            limits_state=LimitsState.NO_COMET_USER,
            terminate_time=self._clock.now(),
        )
        return await self._save(held, terminated, journal)

    async def _delete_user(
        self, account: Account, journal: Journal, *, uninstall: bool, remove_config: bool
    ) -> None:
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

    # -- changes ----------------------------------------------------------------------------------

    async def change_password(self, held: HeldAccount, new_password: str, request_id: str) -> Account:
        violations = Violations()
        check_password(violations, "new_password", new_password, required=True)
        violations.raise_if_any()
        account = await self._account(held, "change_password", _LIVE)
        journal = Journal(account.id, "change_password", request_id)
        async with self._logged(journal):
            client = await account_client(self._clients, account)
            with journal.step("reset_password", "reset-user-password"):
                await comet_call(account, lambda: client.reset_user_password(account.username, new_password))
        return await self._save(held, account, journal)

    async def change_package(
        self, held: HeldAccount, product_id: str, options: Mapping[str, int], request_id: str
    ) -> Account:
        account = await self._queries.load(held.account_id)
        if account.status is Status.TERMINATED:
            raise wrong_status(account, "change_package")
        product = await self._products.fresh(product_id or account.product_id)
        merged = {
            option.key: options.get(option.key, account.options.get(option.key, option.default_quantity))
            for option in product.options
        }
        merged.update(options)  # unknown keys reach resolve_quantities, which names them
        quantities = resolve_quantities(product, merged, field="options")
        current = await self._products.fresh(account.product_id)
        if product.server_group_id != current.server_group_id and account.comet_user_may_exist:
            raise ServiceError(
                ErrorKind.FAILED_PRECONDITION,
                "SERVER_GROUP_CHANGE",
                "the new product places accounts in another server group; the Comet user cannot move",
                metadata={"account_id": account.id, "product_id": product.id},
            )
        journal = Journal(account.id, "change_package", request_id)
        changed = dataclasses.replace(account, product_id=product.id, options=quantities)
        if account.status in _LIVE:
            async with self._logged(journal):
                await self._provisioner.apply_quotas(changed, product, journal)
        else:
            journal.note("apply_quotas", "SKIPPED", "applied when the account is provisioned")
        return await self._save(held, changed, journal)
