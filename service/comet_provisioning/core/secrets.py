"""Opening a stored secret: one that none of the configured keys opens is the caller's
FAILED_PRECONDITION (SECRET_UNREADABLE, naming the server or account), never an internal error."""

from __future__ import annotations

from comet_provisioning.crypto import SecretBox, SecretUnreadable

from .errors import ErrorKind, ServiceError

__all__ = ["open_account_password", "open_server_password"]

_REASON = "SECRET_UNREADABLE"


def open_server_password(box: SecretBox, blob: bytes, *, server_id: str, display_name: str) -> str:
    try:
        return box.decrypt(blob, bound_to=server_id)
    except SecretUnreadable:
        raise ServiceError(
            ErrorKind.FAILED_PRECONDITION,
            _REASON,
            f"the stored admin password of server {display_name!r} ({server_id}) opens with none of the "
            "configured secret keys: add the key it was sealed under to previous_secret_keys, or set the "
            "password again with UpdateServer (connection.admin_password)",
            metadata={"server_id": server_id, "server_name": display_name},
        ) from None


def open_account_password(box: SecretBox, blob: bytes, *, account_id: str) -> str:
    try:
        return box.decrypt(blob, bound_to=f"account:{account_id}")
    except SecretUnreadable:
        raise ServiceError(
            ErrorKind.FAILED_PRECONDITION,
            _REASON,
            f"the pending password of account {account_id} opens with none of the configured secret "
            "keys: add the key it was sealed under to previous_secret_keys, or terminate the order and "
            "place it again",
            metadata={"account_id": account_id},
        ) from None
