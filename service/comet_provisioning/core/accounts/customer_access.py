"""What a customer is handed: a sign-on session into their Comet account, and the client installer.

Both need an ACTIVE account. A suspended customer is not signed in (the point of suspending), and
is not handed the installer either: every customer-facing action follows the same rule, so a
billing panel that shows "suspended" never has a download button that works; the installer is
served again as soon as the account is unsuspended. Pending, failed and terminated accounts have no
Comet user to sign into or back up with.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from comet_provisioning.comet import ClientDownload, CometError
from comet_provisioning.core.accounts.model import Account, Status
from comet_provisioning.core.comet_errors import to_service_error
from comet_provisioning.core.errors import ErrorKind, ServiceError

from .ports import CometClients

__all__ = ["LoginSession", "open_installer", "require_active", "start_login_session"]


@dataclass(frozen=True)
class LoginSession:
    key: str
    type: str
    server_url: str
    username: str

    def __repr__(self) -> str:  # the key signs the holder in as the customer
        return f"LoginSession(type={self.type!r}, server_url={self.server_url!r}, username={self.username!r})"


def require_active(account: Account, operation: str) -> None:
    if account.status is not Status.ACTIVE or not account.username or not account.server_id:
        raise ServiceError(
            ErrorKind.FAILED_PRECONDITION,
            "INVALID_ACCOUNT_STATUS",
            f"cannot {operation} for an account that is {account.status.value}; it must be ACTIVE",
            metadata={"account_id": account.id, "status": account.status.value, "operation": operation},
        )


def _service_error(err: CometError, account: Account) -> ServiceError:
    error = to_service_error(err, account.server_id)
    error.metadata["account_id"] = account.id
    return error


async def start_login_session(
    clients: CometClients, account: Account, *, timeout_s: float | None = None
) -> LoginSession:
    """`account/session-start-as-user` for an ACTIVE account."""
    require_active(account, "start a login session")
    client = await clients.client(account.server_id)
    try:
        session = await client.start_user_session(account.username, timeout_s=timeout_s)
    except CometError as err:
        raise _service_error(err, account) from err
    return LoginSession(
        key=session.key, type=session.type, server_url=client.config.base_url, username=account.username
    )


@contextlib.asynccontextmanager
async def open_installer(
    clients: CometClients, account: Account, platform: str, *, timeout_s: float | None = None
) -> AsyncIterator[ClientDownload]:
    """The branded installer of the account's server, streamed: nothing is buffered here, and
    leaving the block early (a cancelled call) closes the upstream response."""
    require_active(account, "download the client")
    client = await clients.client(account.server_id)
    try:
        async with client.download_client(platform, timeout_s=timeout_s) as download:
            yield download
    except CometError as err:
        raise _service_error(err, account) from err
