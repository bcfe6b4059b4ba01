"""Typed failures of a Comet admin call.

Callers decide on the *class* of an error (and its ``retryable`` / ``reached_server`` flags), never on
message text: Comet translates its messages and the proxies in front of it answer in HTML.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CometApiError",
    "CometAuthFailed",
    "CometClientClosed",
    "CometConnectionLost",
    "CometError",
    "CometHashConflict",
    "CometLockedOut",
    "CometNotCometServer",
    "CometSecondFactorRequired",
    "CometTLSError",
    "CometTimeout",
    "CometUnreachable",
    "CometUserExists",
    "CometUserNotFound",
    "converted",
    "not_sent",
]

_TRANSIENT_HTTP = frozenset({500, 502, 503, 504})


class CometError(Exception):
    """Base of every failure talking to one Comet Server.

    ``http_status`` is the HTTP status line (``None`` when no reply arrived), ``api_status`` the
    ``Status`` inside the JSON body (``None`` when there was none).  Messages never carry secrets.
    """

    kind: ClassVar[str] = "error"
    """Stable, machine-readable name of the category (used as the observed call outcome)."""

    def __init__(
        self,
        server_id: str,
        endpoint: str,
        message: str,
        http_status: int | None = None,
        api_status: int | None = None,
        *,
        reached_server: bool = True,
    ) -> None:
        self.server_id = server_id
        self.endpoint = endpoint
        self.message = message
        self.http_status = http_status
        self.api_status = api_status
        self._reached_server = reached_server
        super().__init__(self.__str__())

    @property
    def reached_server(self) -> bool:
        """False only when the request provably never left this process (safe to re-send anything)."""
        return self._reached_server

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed if tried again soon (a transient condition)."""
        return False

    def __str__(self) -> str:
        return (
            f"[{self.server_id}] {self.endpoint}: {self.message}"
            f" (http={self.http_status}, status={self.api_status})"
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(server_id={self.server_id!r}, endpoint={self.endpoint!r},"
            f" message={self.message!r}, http_status={self.http_status!r},"
            f" api_status={self.api_status!r}, reached_server={self.reached_server!r})"
        )


class CometUnreachable(CometError):
    """Nothing answered: DNS failure, connection refused, no route. The request was never sent."""

    kind = "unreachable"

    def __init__(self, server_id: str, endpoint: str, message: str) -> None:
        super().__init__(server_id, endpoint, message, reached_server=False)

    @property
    def retryable(self) -> bool:
        return True


class CometConnectionLost(CometError):
    """The connection broke after the request may have been sent: the outcome is unknown."""

    kind = "connection_lost"

    @property
    def retryable(self) -> bool:
        return True


class CometTimeout(CometError):
    """No complete answer in time. ``reached_server`` is False only for connect-phase timeouts."""

    kind = "timeout"

    @property
    def retryable(self) -> bool:
        return True


class CometTLSError(CometError):
    """The TLS handshake failed (untrusted or mismatched certificate): retrying will not help."""

    kind = "tls_error"

    def __init__(self, server_id: str, endpoint: str, message: str) -> None:
        super().__init__(server_id, endpoint, message, reached_server=False)


class CometNotCometServer(CometError):
    """Something answered, but not a Comet Server (HTML, non-JSON, a proxy's error page).

    Retryable when the HTTP status is a transient server error (500, 502, 503, 504): a proxy in
    front of Comet, or Comet itself failing with a plain-text 500 (as Go's ``http.Error`` writes).
    A 200 or 404 with a web page means the address is wrong, which retrying will not fix.
    """

    kind = "not_comet_server"

    @property
    def retryable(self) -> bool:
        return self.http_status in _TRANSIENT_HTTP


class CometAuthFailed(CometError):
    """The admin credentials were refused."""

    kind = "auth_failed"


class CometSecondFactorRequired(CometAuthFailed):
    """The admin password was right but the account needs a TOTP code (``ERR_TOTP_REQUIRED``)."""

    kind = "second_factor_required"


class CometLockedOut(CometError):
    """Login protection blocked this source after failed logins; wait for the cooldown."""

    kind = "locked_out"


class CometUserNotFound(CometError):
    """The ``TargetUser`` of the call does not exist on this server."""

    kind = "user_not_found"


class CometHashConflict(CometError):
    """The profile (or policy) changed since its hash was read: re-read, re-apply, retry."""

    kind = "hash_conflict"


class CometApiError(CometError):
    """Any other refusal; both status numbers and the server's message are kept."""

    kind = "api_error"

    @property
    def retryable(self) -> bool:
        return self.http_status in _TRANSIENT_HTTP


class CometUserExists(CometApiError):
    """``add-user`` was refused with a configured "name taken" code (``ErrorHints.user_exists_messages``).

    Only a hint: servers differ in how they refuse a taken name (status and wording), so a refusal
    without the code is a plain ``CometApiError``. Callers must decide from Comet's state (does the
    user exist, and is it theirs?), never from this class.
    """

    kind = "user_exists"


class CometClientClosed(CometError):
    """The client was closed (e.g. replaced after a config change); fetch a fresh one and retry."""

    kind = "client_closed"

    def __init__(self, server_id: str, endpoint: str) -> None:
        super().__init__(server_id, endpoint, "client is closed", reached_server=False)

    @property
    def retryable(self) -> bool:
        return True


def converted(cls: type[CometError], error: CometError) -> CometError:
    """``error`` as another class, keeping where it happened, its message and both statuses."""
    return cls(error.server_id, error.endpoint, error.message, error.http_status, error.api_status)


def not_sent(error: CometError) -> CometError:
    """A copy of ``error`` saying the call that needed it was never sent (it failed beforehand)."""
    copy = type(error).__new__(type(error))
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    copy._reached_server = False
    return copy
