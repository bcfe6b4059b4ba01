"""One place where a Comet client failure on an account's behalf becomes a ServiceError."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from comet_provisioning.comet import CometError
from comet_provisioning.core.comet_errors import to_service_error
from comet_provisioning.store.account_records import Account

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
