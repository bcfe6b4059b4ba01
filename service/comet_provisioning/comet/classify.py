"""Turning a Comet reply into a typed outcome, and a transport failure into a ``CometError``.

The decision rests on numbers first (HTTP status, body ``Status``); message texts are used only as
configurable *hints* for the undocumented cases, and every ambiguous case is reported together with a
read-only check (a ``Probe``) the client runs to settle it from Comet's state instead of its wording.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Final

from .endpoints import CREDENTIALS_ONLY_ENDPOINTS, HASH_CHECKED_ENDPOINTS, TARGET_USER_ENDPOINTS
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
from .transport import ConnectFailed, TLSFailed, TransportError, TransportTimeout

__all__ = [
    "NOT_JSON",
    "ErrorHints",
    "Probe",
    "Verdict",
    "classify_reply",
    "decode_body",
    "transport_failure",
]

TOTP_REQUIRED: Final = "ERR_TOTP_REQUIRED"


class _NotJSON(enum.Enum):
    NOT_JSON = "not-json"


NOT_JSON: Final = _NotJSON.NOT_JSON
"""Marker for a reply body that is not JSON (an HTML error page, a truncated body, ...)."""


class Probe(enum.Enum):
    """A read-only check that settles an ambiguous refusal."""

    CREDENTIALS = "credentials"
    """A 403: are the admin credentials good? If so, it was a missing permission."""
    USER_AFTER_CREDENTIALS = "user_after_credentials"
    """A 403 on a call about a user: check the credentials, then whether the user exists."""
    USER = "user"
    """A 400 on a call about a user, which can fail for other reasons: does the user exist?"""


@dataclass(frozen=True, slots=True)
class ErrorHints:
    """Undocumented signals, configurable per deployment: statuses first, then exact message codes.

    Only what Comet's state cannot tell is hinted: a lockout, a stale hash, and a name taken
    (``CometUserExists``, which callers must not rely on). The defaults match the simulator and
    the codes Comet is known to send.
    """

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
    """Classify a reply that arrived. A body ``Status`` outside 200-299 or a non-2xx HTTP is a failure.

    A 403 is bad credentials only on an endpoint without parameters; elsewhere it may also mean a
    missing ``TargetUser`` (Comet 20.9-22.3) or a missing permission, whatever its message, so it
    comes with a probe. So does a 400 about a user (only ``get-user-profile`` has no other reason).
    """
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
    if endpoint == "add-user":
        if message in hints.user_exists_messages:
            return Verdict(make(CometUserExists))
        return Verdict(make(CometApiError), Probe.CREDENTIALS if api_status == 403 else None)
    about_user = endpoint in TARGET_USER_ENDPOINTS
    if api_status == 403:
        if endpoint in CREDENTIALS_ONLY_ENDPOINTS:
            return Verdict(make(CometAuthFailed))
        return Verdict(make(CometApiError), Probe.USER_AFTER_CREDENTIALS if about_user else Probe.CREDENTIALS)
    if api_status == 400 and about_user:
        if endpoint == "get-user-profile":
            return Verdict(make(CometUserNotFound))
        return Verdict(make(CometApiError), Probe.USER)
    return Verdict(make(CometApiError))


def transport_failure(server_id: str, endpoint: str, failure: TransportError) -> CometError:
    """A call that got no reply. Only a request that provably never left may be re-sent."""
    detail = failure.detail
    if isinstance(failure, TLSFailed):
        return CometTLSError(server_id, endpoint, detail)
    if isinstance(failure, ConnectFailed):
        return CometUnreachable(server_id, endpoint, detail)
    reached = failure.request_sent is not False
    if isinstance(failure, TransportTimeout):
        return CometTimeout(server_id, endpoint, detail or "timed out", reached_server=reached)
    return CometConnectionLost(server_id, endpoint, detail, reached_server=reached)
