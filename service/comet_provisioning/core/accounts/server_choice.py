"""Choosing a server for a new account and reserving its username there, in one transaction.

The username is unique per server among live accounts (a unique index), so two orders, in this
process or on two replicas, never reserve the same name; a name held by another account gets the
original module's `_NNNN` suffix. The same transaction marks add-user ATTEMPTED (see comet_user.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from comet_provisioning.comet import CometClient
from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning.core.keyed_locks import KeyedLocks
from comet_provisioning.core.models import Product
from comet_provisioning.core.unit_of_work import Store, UnitOfWork

from . import usernames
from .journal import Journal
from .model import Account, StepState, UsernameTaken
from .ownership import max_call_ms
from .placement import Candidate, rank, why_none
from .ports import CometClients
from .repository import GroupPlacement, LeaseClaim

MAX_NAME_ATTEMPTS = 20


def _attempted_on(account: Account, server_id: str, name: str, client: CometClient | None) -> Account:
    """The account placed on a server, add-user ATTEMPTED. When this process already knows the
    server (its version and clock), the name fits the server's minimum length and the attempt
    window is written now; otherwise the window is written just before add-user goes out."""
    info = client.server_info if client is not None else None
    start = client.comet_now_ms() if client is not None and info is not None else None
    return dataclasses.replace(
        account,
        server_id=server_id,
        username=usernames.fit(name, info.version.min_username_length if info is not None else None),
        add_user=StepState.ATTEMPTED,
        add_user_window_start_ms=start,
        add_user_window_end_ms=start + max_call_ms(client) if start is not None and client else None,
    )


class ServerChoice:
    def __init__(self, store: Store, clients: CometClients) -> None:
        self._store = store
        self._clients = clients
        self._group_locks = KeyedLocks()

    async def place(
        self,
        account: Account,
        product: Product,
        journal: Journal,
        excluded: set[str],
        *,
        name: str = "",
        lease: LeaseClaim | None = None,
        record: Callable[[UnitOfWork], Awaitable[None]] | None = None,
    ) -> Account:
        """Chooses a server and reserves the username on it, add-user ATTEMPTED, in one transaction
        (unique per server among live accounts); a name held by another account gets a suffix.

        `lease`: the account is a new order, inserted here with this lease; `record` first looks
        its request id up and records it in the same transaction (it raises when the id already has
        an outcome, RequestIdTaken when a concurrent twin won); its
        events are written with its final state, one write fewer on the hot path. Otherwise the
        stored account is updated."""
        base = usernames.base_username(
            account.requested_username, account.customer.email, account.customer.first_name, account.id
        )
        name = name or base
        with journal.step("place") as outcome:
            for _ in range(MAX_NAME_ATTEMPTS):
                async with self._group_locks.hold(product.server_group_id):
                    try:
                        async with self._store.write() as uow:
                            if record is not None:
                                await record(uow)
                            group = await self._group_in(uow, product, lock=True)
                            everyone = [
                                Candidate(
                                    server_id=load.server_id,
                                    # The account's own reservation is not a reason to move it.
                                    account_count=load.accounts - (load.server_id == account.server_id),
                                    max_accounts=load.max_accounts,
                                    placement_order=load.placement_order,
                                    draining=load.draining,
                                    down=self._clients.server_down(load.server_id),
                                )
                                for load in await uow.placement.server_loads(product.server_group_id)
                            ]
                            candidates = rank(
                                [c for c in everyone if c.server_id not in excluded], group.rule
                            )
                            if not candidates:
                                raise _group_full(
                                    product, account, everyone, excluded, recorded=lease is None
                                )
                            keep = next(
                                (c for c in candidates if c.server_id == account.server_id and not c.down),
                                None,
                            )
                            server_id = (keep or candidates[0]).server_id
                            placed = _attempted_on(account, server_id, name, self._clients.cached(server_id))
                            outcome.note = f"server {placed.server_id}, username {placed.username}"
                            if lease is None:
                                placed = await uow.accounts.save(placed)
                                await uow.events.add(journal.take())
                            else:
                                await uow.accounts.add(placed, lease=lease)
                    except UsernameTaken:
                        name = usernames.with_suffix(base)  # held by another account on that server
                        continue
                return placed
        raise ServiceError(
            ErrorKind.ABORTED,
            "USERNAME_UNAVAILABLE",
            "could not reserve a free username; retry",
            metadata={"account_id": account.id},
        )

    async def group(self, product: Product) -> GroupPlacement:
        async with self._store.read_one() as uow:
            return await self._group_in(uow, product, lock=False)

    async def _group_in(self, uow: UnitOfWork, product: Product, *, lock: bool) -> GroupPlacement:
        group = await uow.placement.group(product.server_group_id, lock=lock)
        return group or GroupPlacement("LEAST_ACCOUNTS", failover=False)


def _group_full(
    product: Product, account: Account, everyone: list[Candidate], tried: set[str], *, recorded: bool
) -> ServiceError:
    """RESOURCE_EXHAUSTED naming the group and why; the account only if it is stored (a new order
    that found no server is not recorded, so there is nothing to look up)."""
    metadata = {"server_group_id": product.server_group_id}
    if recorded:
        metadata["account_id"] = account.id
    return ServiceError(
        ErrorKind.RESOURCE_EXHAUSTED,
        "SERVER_GROUP_FULL",
        f"no server of the product's group {product.server_group_id} can take another account"
        f" ({why_none(everyone, tried)})",
        metadata=metadata,
    )
