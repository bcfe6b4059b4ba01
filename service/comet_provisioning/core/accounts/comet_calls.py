"""One place where a Comet client failure on an account's behalf becomes a ServiceError."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from comet_provisioning.comet import CometClient, CometError
from comet_provisioning.core.accounts.model import Account
from comet_provisioning.core.comet_errors import to_service_error

from .ports import CometClients

T = TypeVar("T")


async def comet_call(account: Account, call: Callable[[], Awaitable[T]]) -> T:
    """Runs `call`; a Comet error becomes UNAVAILABLE / FAILED_PRECONDITION naming the account and
    its Comet user (the original error stays the cause, for callers that decide on its class)."""
    try:
        return await call()
    except CometError as err:
        service_error = to_service_error(err, account.server_id)
        service_error.metadata["account_id"] = account.id
        if account.username:
            service_error.metadata.setdefault("username", account.username)
        raise service_error from err


async def account_client(clients: CometClients, account: Account) -> CometClient:
    """The client of the account's server, its release known: learned at the first call, again when
    older than its TTL or when a reply contradicted it (so an upgrade is noticed and stored)."""
    client = await clients.client(account.server_id)
    await comet_call(account, client.ensure_server_info)
    return client
