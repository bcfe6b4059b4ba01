"""Choosing a server for a new account and reserving its username there, in one transaction.

The username is unique per server among live accounts (a unique index), so two orders, in this
process or on two replicas, never reserve the same name; a name held by another account gets the
original module's `_NNNN` suffix. The same transaction marks add-user ATTEMPTED (see comet_user.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.comet import CometClient
from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning.core.models import Product
from comet_provisioning.store import account_rows as rows
from comet_provisioning.store.account_records import Account, StepState
from comet_provisioning.store.database import Database

from . import usernames
from .guard import KeyedLocks
from .journal import Journal
from .ownership import max_call_ms
from .placement import Candidate, rank, why_none
from .ports import CometClients

MAX_NAME_ATTEMPTS = 20


@dataclasses.dataclass(frozen=True)
class Group:
    rule: str
    failover: bool


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
    def __init__(self, db: Database, clients: CometClients) -> None:
        self._db = db
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
            for _ in range(MAX_NAME_ATTEMPTS):
                async with self._group_locks.hold(product.server_group_id):
                    try:
                        async with self._db.transaction() as conn:
                            group = await self.group(product, conn)
                            counted = await rows.live_server_counts(conn, product.server_group_id)
                            everyone = [
                                Candidate(
                                    server_id=row["id"],
                                    # The account's own reservation is not a reason to move it.
                                    account_count=live - (1 if row["id"] == account.server_id else 0),
                                    max_accounts=row["max_accounts"],
                                    placement_order=row["placement_order"],
                                    draining=bool(row["draining"]),
                                    down=self._clients.server_down(row["id"]),
                                )
                                for row, live in counted
                            ]
                            candidates = rank(
                                [c for c in everyone if c.server_id not in excluded], group.rule
                            )
                            if not candidates:
                                raise _group_full(
                                    product, account, everyone, excluded, recorded=write is None
                                )
                            keep = next(
                                (c for c in candidates if c.server_id == account.server_id and not c.down),
                                None,
                            )
                            server_id = (keep or candidates[0]).server_id
                            placed = _attempted_on(account, server_id, name, self._clients.cached(server_id))
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

    async def group(self, product: Product, conn: AsyncConnection | None = None) -> Group:
        if conn is None:
            async with self._db.read_one() as reader:
                row = await rows.group_placement(reader, product.server_group_id, lock=False)
        else:
            row = await rows.group_placement(conn, product.server_group_id, lock=True)
        if row is None:
            return Group("LEAST_ACCOUNTS", False)
        return Group(row["placement_rule"], bool(row["failover"]))


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
