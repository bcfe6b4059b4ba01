"""An account's Comet user: created by exactly one add-user, and never confused with someone else's.

add-user is not idempotent and its reply can be lost (a reset, a timeout, a proxy's 502 before or
after Comet acted, a crash), and servers word a refusal for an existing name differently (400 or
500, any language). So the outcome is never read from an error: whenever add-user did not answer
with a success, Comet's state decides (`settle`): no user of that name means the call did not take
effect; a user created inside the account's attempt window is its own (`ownership.py`); any other
user is someone else's, receives no call that changes it, and the account moves on to a suffixed
name.

Before each add-user the attempt window is on record (placement writes it with the reservation, a
re-send writes it first), so a later run, on any replica, can settle what this one left unknown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from comet_provisioning.comet import CometClient, CometError, CometTimeout, CometUserNotFound
from comet_provisioning.core.accounts.model import Account, LimitsState, Origin, StepState
from comet_provisioning.core.comet_errors import to_service_error
from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning.core.models import Product

from . import usernames
from .journal import Journal
from .ownership import AttemptWindow, Ownership, judge, max_call_ms
from .policy_groups import PolicyGroups
from .ports import CometClients
from .server_choice import MAX_NAME_ATTEMPTS, ServerChoice

Save = Callable[[Account, Journal], Awaitable[Account]]

_VERDICT_NOTES = {
    Ownership.OURS: "created by this account's add-user",
    Ownership.FOREIGN: "created by someone else",
    Ownership.UNPROVABLE: "no CreateTime: treated as someone else's",
}


class NameTaken(Exception):
    """The username belongs to a Comet user this account did not create: pick another."""


@dataclasses.dataclass
class Run:
    """What one provisioning run learned that the stored journal does not say yet."""

    # The account as this run last saved or changed it: what a failure is recorded on.
    account: Account
    # This run's placement marked add-user ATTEMPTED (no earlier run may have sent it).
    placed_now: bool = False
    # An add-user of this run may have reached Comet.
    sent: bool = False
    # This run's add-user got a success reply: the user is new, so it has no vault yet.
    created: bool = False


def window(account: Account) -> AttemptWindow | None:
    if account.add_user_window_start_ms is None or account.add_user_window_end_ms is None:
        return None
    return AttemptWindow(account.add_user_window_start_ms, account.add_user_window_end_ms)


def _outcome_known(account: Account, client: CometClient, err: CometError) -> Account:
    """add-user failed now: the window closes at this moment, so a user someone else creates
    after it is not taken for this account's. Only a timeout leaves the request possibly still
    running on Comet (a proxy's 504, the client giving up): then it stays open for the longest a
    call can take."""
    now_ms = client.comet_now_ms()
    still_running = isinstance(err, CometTimeout) or err.http_status == 504
    end = now_ms + max_call_ms(client) if still_running else now_ms
    start = account.add_user_window_start_ms
    return dataclasses.replace(account, add_user_window_end_ms=end if start is not None else None)


def no_attempt(account: Account) -> Account:
    """Back to "add-user never sent for this name": the name stays reserved, the window goes."""
    return dataclasses.replace(
        account, add_user=StepState.NOT_STARTED, add_user_window_start_ms=None, add_user_window_end_ms=None
    )


def owned(account: Account) -> Account:
    """The account's Comet user exists and is provably its own."""
    return dataclasses.replace(
        account,
        add_user=StepState.DONE,
        comet_user_origin=account.comet_user_origin or Origin.CREATED,
        limits_state=(
            account.limits_state
            if account.limits_state in (LimitsState.APPLIED, LimitsState.SUSPENDED)
            else LimitsState.PENDING
        ),
    )


async def settle(
    client: CometClient, account: Account, journal: Journal, *, refused: bool = False
) -> Ownership | None:
    """Whether the account's username is a Comet user, and whose: None when there is none.

    `refused`: Comet itself just answered this account's add-user with a refusal, so that attempt
    created nothing, and every earlier one was settled as "no such user" before it was sent: a
    user found now is someone else's, however recently it was created."""
    with journal.step("check_user", "get-user-profile") as outcome:
        try:
            profile = await client.get_user_profile(account.username)
        except CometUserNotFound:
            outcome.note = "no such user"
            return None
        verdict = judge(profile, None if refused else window(account))
        outcome.note = _VERDICT_NOTES[verdict]
        return verdict


class CometUsers:
    def __init__(
        self,
        clients: CometClients,
        choice: ServerChoice,
        policies: PolicyGroups,
        save: Save,
        password: Callable[[Account], str],
    ) -> None:
        self._clients = clients
        self._choice = choice
        self._policies = policies
        self._save = save
        self._password = password

    async def ensure(self, product: Product, journal: Journal, run: Run) -> Account:
        """The run's account has its Comet user afterwards, provably its own (`run.account`
        follows every change, so a failure is recorded on what this run knows)."""
        excluded: set[str] = set()
        account = run.account
        base = usernames.base_username(
            account.requested_username, account.customer.email, account.customer.first_name, account.id
        )
        unavailable: ServiceError | None = None
        for _ in range(MAX_NAME_ATTEMPTS):
            account = run.account
            if account.add_user is StepState.DONE:
                run.account = owned(account)
                return run.account
            if account.add_user is StepState.NOT_STARTED:
                try:
                    run.account = await self._choice.place(
                        account, product, journal, excluded, name=account.username or base
                    )
                except ServiceError as err:
                    if unavailable is not None and err.reason == "SERVER_GROUP_FULL":
                        raise unavailable from err  # every other server is full: report the outage
                    raise
                run.placed_now = True
            client = await self._clients.client(run.account.server_id)
            try:
                if product.policy_group_mode == "CREATE_NEW":
                    await self._policies.ensure(run.account.server_id, product, client, journal)
                if not run.placed_now:
                    # An earlier run marked add-user: it may have created the user. Comet decides.
                    verdict = await settle(client, run.account, journal)
                    if verdict is Ownership.OURS:
                        run.account = owned(run.account)
                        return run.account
                    if verdict is not None:
                        raise NameTaken(run.account.username)
                if not run.placed_now or run.account.add_user_window_start_ms is None:
                    run.account = await self._mark_attempt(run.account, client, journal)
                return await self._add_user(product, client, journal, run)
            except NameTaken:
                name = run.account.username
                journal.note("choose_username", "SUCCEEDED", f"{name} belongs to another user")
                saved = await self._save(no_attempt(run.account), journal)
                run.account = dataclasses.replace(saved, username=usernames.with_suffix(base))
                run.placed_now = run.sent = False
            except CometError as err:
                server_id = run.account.server_id
                service_error = to_service_error(err, server_id)
                service_error.metadata["account_id"] = run.account.id
                if (
                    not run.placed_now
                    or run.sent
                    or not err.retryable
                    or not (await self._choice.group(product)).failover
                ):
                    raise service_error from err
                # add-user provably never reached Comet: the account may still move.
                unavailable = service_error
                journal.note("failover", "SUCCEEDED", f"server {server_id} unavailable: {err.kind}")
                excluded.add(server_id)
                run.account = await self._save(no_attempt(run.account), journal)
                run.placed_now = False
        raise ServiceError(
            ErrorKind.ABORTED,
            "USERNAME_UNAVAILABLE",
            "could not find a free Comet username; retry",
            metadata={"account_id": run.account.id},
        )

    async def _add_user(self, product: Product, client: CometClient, journal: Journal, run: Run) -> Account:
        """Sends add-user once for this attempt; an outcome other than success is settled by
        Comet's state. Raises NameTaken when the name turns out to be someone else's."""
        account = run.account
        try:
            with journal.step("add_user", "add-user"):
                await client.add_user(
                    account.username,
                    self._password(account),
                    require_password_change=product.require_password_change,
                )
        except CometError as err:
            if not err.reached_server:
                raise  # provably never sent: nothing on Comet changed
            run.sent = True
            run.account = account = _outcome_known(account, client, err)
            # A reply from Comet itself (not a proxy's page, not a lost reply) that is not a
            # transient failure: the call was processed and refused.
            refused = err.api_status is not None and not err.retryable
            verdict = await settle(client, account, journal, refused=refused)
            if verdict is Ownership.OURS:
                run.account = owned(account)
                return run.account
            if verdict is not None:
                raise NameTaken(account.username) from err
            raise  # no such user: the call did not take effect (yet); retried or failed on its merits
        run.sent = run.created = True
        run.account = owned(account)
        return run.account

    async def _mark_attempt(self, account: Account, client: CometClient, journal: Journal) -> Account:
        """Writes the attempt window before add-user goes out: the start of the first attempt for
        this name (kept across re-sends) and the latest moment this one can take effect."""
        await client.ensure_server_info()
        now_ms = client.comet_now_ms()
        start = account.add_user_window_start_ms
        return await self._save(
            dataclasses.replace(
                account,
                add_user=StepState.ATTEMPTED,
                add_user_window_start_ms=now_ms if start is None else start,
                add_user_window_end_ms=now_ms + max_call_ms(client),
            ),
            journal,
        )
