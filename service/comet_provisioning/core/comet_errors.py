"""Comet client failures in the service's terms: a connection-test verdict, or a ServiceError.

UNAVAILABLE only for what a retry can fix (nothing answered, a timeout, a proxy's 502); what needs
an operator (credentials, TLS, not a Comet server) is FAILED_PRECONDITION.
"""

from __future__ import annotations

from comet_provisioning.comet.errors import (
    CometApiError,
    CometAuthFailed,
    CometClientClosed,
    CometConnectionLost,
    CometError,
    CometLockedOut,
    CometNotCometServer,
    CometSecondFactorRequired,
    CometTimeout,
    CometTLSError,
    CometUnreachable,
    CometUserNotFound,
)

from .errors import ErrorKind, ServiceError

__all__ = ["connection_failure", "name_server", "to_service_error"]

# Display names of the servers this process has read, so that errors name a server as operators
# know it (its display name and id) wherever they are raised; filled in by ServerManager.
_NAMES: dict[str, str] = {}


def name_server(server_id: str, display_name: str) -> None:
    _NAMES[server_id] = display_name


# Most specific first: CometSecondFactorRequired is a CometAuthFailed.
_FAILURES: tuple[tuple[type[CometError], str], ...] = (
    (CometSecondFactorRequired, "SECOND_FACTOR_REQUIRED"),
    (CometAuthFailed, "BAD_CREDENTIALS"),
    (CometLockedOut, "LOCKED_OUT"),
    (CometUnreachable, "UNREACHABLE"),
    (CometTLSError, "TLS"),
    (CometNotCometServer, "NOT_COMET"),
    (CometTimeout, "TIMEOUT"),
)


def connection_failure(error: CometError) -> str:
    """The ConnectionFailure name (without prefix) for a failed connection test."""
    for cls, name in _FAILURES:
        if isinstance(error, cls):
            return name
    return "OTHER"


_REASONS: tuple[tuple[type[CometError], str], ...] = (
    (CometSecondFactorRequired, "COMET_SECOND_FACTOR_REQUIRED"),
    (CometAuthFailed, "COMET_AUTH_FAILED"),
    (CometLockedOut, "COMET_LOCKED_OUT"),
    (CometUnreachable, "COMET_UNREACHABLE"),
    (CometTLSError, "COMET_TLS_ERROR"),
    (CometNotCometServer, "COMET_NOT_COMET_SERVER"),
    (CometTimeout, "COMET_TIMEOUT"),
    (CometConnectionLost, "COMET_CONNECTION_LOST"),
    (CometClientClosed, "COMET_CLIENT_CLOSED"),
    (CometApiError, "COMET_API_ERROR"),
)


def to_service_error(error: CometError, server_id: str) -> ServiceError:
    """UNAVAILABLE when retrying may help, FAILED_PRECONDITION when an operator must act."""
    if isinstance(error, CometUserNotFound):
        return ServiceError(
            ErrorKind.FAILED_PRECONDITION,
            "COMET_USER_NOT_FOUND",
            f"the Comet user is not on server {server_id} (deleted outside this service?)",
            metadata={"server_id": server_id, "endpoint": error.endpoint, "comet_error": error.kind},
        )
    reason = next((name for cls, name in _REASONS if isinstance(error, cls)), "COMET_ERROR")
    if isinstance(error, CometNotCometServer) and error.retryable:
        # A 5xx error page (a proxy's 502 HTML, Comet's plain-text 500): the server is there but
        # failing for now, not a wrong address; "not a Comet server" would send operators astray.
        reason = "COMET_SERVER_ERROR"
    name = _NAMES.get(server_id, "")
    who = f"{name!r} ({server_id})" if name else server_id
    if error.retryable:
        kind = ErrorKind.UNAVAILABLE
        summary = f"Comet server {who} is not answering properly ({error.kind}); retry later"
    else:
        kind = ErrorKind.FAILED_PRECONDITION
        summary = f"Comet server {who} refused the call ({error.kind}); check its settings"
    metadata = {"server_id": server_id, "endpoint": error.endpoint, "comet_error": error.kind}
    if name:
        metadata["server_name"] = name
    if error.http_status is not None:
        metadata["http_status"] = str(error.http_status)
    if error.api_status is not None:
        metadata["comet_status"] = str(error.api_status)
    return ServiceError(kind, reason, f"{summary}: {error.message}", metadata=metadata)
