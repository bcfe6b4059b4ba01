"""Turning a Comet reply, or a transport exception, into a typed outcome.

The decision rests on numbers first (HTTP status, body ``Status``); message texts are used only as
configurable *hints* for the undocumented cases, and every ambiguous case is reported together with a
read-only check (a ``Probe``) the client can run to settle it instead of guessing from wording.
"""

from __future__ import annotations

import asyncio
import enum
import json
import ssl
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from .endpoints import (
    CREDENTIALS_ONLY_ENDPOINTS,
    HASH_CHECKED_ENDPOINTS,
    MISSING_USER_IS_ONLY_FAILURE,
    TARGET_USER_ENDPOINTS,
)
from .errors import (
    CometApiError,
    CometAuthFailed,
    CometConnectionLost,
    CometError,
    CometHashConflict,
    CometLockedOut,
    CometNotCometServer,
    CometSecondFactorRequired,
    CometTimeout,
    CometTLSError,
    CometUnreachable,
    CometUserExists,
    CometUserNotFound,
)

__all__ = [
    "NETWORK_ERRORS",
    "NOT_JSON",
    "ErrorHints",
    "Probe",
    "Verdict",
    "classify_exception",
    "classify_reply",
    "decode_body",
]

TOTP_REQUIRED: Final = "ERR_TOTP_REQUIRED"

NETWORK_ERRORS: Final = (aiohttp.ClientError, OSError)
"""What a network failure raises (``TimeoutError`` is an ``OSError``); anything else is a bug."""


class _NotJSON(enum.Enum):
    NOT_JSON = "not-json"


NOT_JSON: Final = _NotJSON.NOT_JSON
"""Marker for a reply body that is not JSON (an HTML error page, a truncated body, ...)."""


class Probe(enum.Enum):
    """A read-only check that settles an ambiguous refusal."""

    CREDENTIALS = "credentials"
    """A 403 whose message we do not know: are the admin credentials good (``meta/version``)?"""
    USER_AFTER_CREDENTIALS = "user_after_credentials"
    """A 403 on a TargetUser endpoint: check credentials, then whether the user exists."""
    USER = "user"
    """A 400 on a TargetUser endpoint that can fail for other reasons: does the user exist?"""


@dataclass(frozen=True, slots=True)
class ErrorHints:
    """Undocumented signals, configurable per deployment. Numbers first, then exact message codes.

    The defaults match the project's simulator and the texts Comet is known to send in English.
    """

    auth_messages: frozenset[str] = frozenset({"Unauthorised", "Unauthorized"})
    user_not_found_messages: frozenset[str] = frozenset({"User not found"})
    user_exists_messages: frozenset[str] = frozenset({"ERR_USER_EXISTS"})
    lockout_statuses: frozenset[int] = frozenset({429})
    lockout_messages: frozenset[str] = frozenset({"ERR_LOGIN_LOCKED"})
    hash_conflict_statuses: frozenset[int] = frozenset({409})
    hash_conflict_messages: frozenset[str] = frozenset({"ERR_PROFILE_HASH_MISMATCH"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """``error`` is None on success; ``probe`` says how the client may refine an ambiguous error."""

    error: CometError | None
    probe: Probe | None = None


def decode_body(raw: bytes, content_type: str) -> Any:
    """The decoded JSON body, or ``NOT_JSON`` for HTML and anything that fails to parse."""
    if "html" in content_type.lower():
        return NOT_JSON
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return NOT_JSON


def _status_and_message(body: Any) -> tuple[int | None, str]:
    if not isinstance(body, dict):
        return None, ""
    status = body.get("Status")
    message = body.get("Message")
    if isinstance(status, bool) or not isinstance(status, int):
        status = None
    return status, message if isinstance(message, str) else ""


def classify_reply(
    server_id: str,
    endpoint: str,
    http_status: int,
    body: Any,
    content_type: str,
    hints: ErrorHints,
) -> Verdict:
    """Classify a reply that arrived. A body ``Status`` outside 200-299 or a non-2xx HTTP is a failure."""
    api_status, message = _status_and_message(body)
    http_ok = 200 <= http_status < 300

    def make(cls: type[CometError], text: str | None = None) -> CometError:
        return cls(server_id, endpoint, text or message or f"HTTP {http_status}", http_status, api_status)

    if body is NOT_JSON:
        if http_status == 429:
            return Verdict(make(CometLockedOut, "HTTP 429 with a non-JSON body"))
        kind = content_type.split(";")[0].strip() or "no content type"
        return Verdict(make(CometNotCometServer, f"HTTP {http_status} with a non-JSON body ({kind})"))
    api_ok = api_status is None or 200 <= api_status < 300
    if (
        http_status == 429
        or (api_status is not None and api_status in hints.lockout_statuses)
        or (not api_ok and message in hints.lockout_messages)
    ):
        return Verdict(make(CometLockedOut))
    if api_ok:
        if http_ok:
            return Verdict(None)
        return Verdict(make(CometApiError))
    assert api_status is not None
    if message == TOTP_REQUIRED:
        return Verdict(make(CometSecondFactorRequired))
    if endpoint in HASH_CHECKED_ENDPOINTS and (
        api_status in hints.hash_conflict_statuses or message in hints.hash_conflict_messages
    ):
        return Verdict(make(CometHashConflict))
    is_target = endpoint in TARGET_USER_ENDPOINTS
    if api_status == 403:
        if message in hints.auth_messages:
            return Verdict(make(CometAuthFailed))
        if is_target:
            if endpoint != "add-user" and message in hints.user_not_found_messages:
                return Verdict(make(CometUserNotFound))
            return Verdict(make(CometApiError), Probe.USER_AFTER_CREDENTIALS)
        if endpoint in CREDENTIALS_ONLY_ENDPOINTS:
            return Verdict(make(CometAuthFailed))
        return Verdict(make(CometApiError), Probe.CREDENTIALS)
    if api_status == 400 and is_target:
        if endpoint == "add-user":
            if message in hints.user_exists_messages:
                return Verdict(make(CometUserExists))
            return Verdict(make(CometApiError), Probe.USER)
        if message in hints.user_not_found_messages or endpoint in MISSING_USER_IS_ONLY_FAILURE:
            return Verdict(make(CometUserNotFound))
        return Verdict(make(CometApiError), Probe.USER)
    return Verdict(make(CometApiError))


def classify_exception(
    server_id: str, endpoint: str, exc: BaseException, *, request_sent: bool | None
) -> CometError:
    """Map an aiohttp/asyncio exception. ``request_sent`` comes from the connector (None when unknown).

    Only errors raised before a connection existed are marked as never having reached the server;
    anything later is treated as "may have been processed", so mutating calls are not re-sent.
    """
    detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError | ssl.CertificateError):
        return CometTLSError(server_id, endpoint, detail)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return CometTimeout(server_id, endpoint, detail, reached_server=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CometUnreachable(server_id, endpoint, detail)
    if isinstance(exc, asyncio.TimeoutError):
        return CometTimeout(
            server_id, endpoint, detail or "timed out", reached_server=request_sent is not False
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return CometConnectionLost(server_id, endpoint, detail, reached_server=request_sent is not False)
    return CometConnectionLost(server_id, endpoint, detail)
