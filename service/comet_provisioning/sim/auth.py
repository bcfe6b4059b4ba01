"""Admin authentication, carried in the form body of every call.

Comet answers bad credentials with HTTP 200 and a 403 body; a right password for an admin that needs
a second factor gets `ERR_TOTP_REQUIRED`; with login protection on, a source that failed too often is
refused with HTTP 429 for a cooldown, even with the right password.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .context import SimContext
from .state import AdminAccount

__all__ = ["AuthRefused", "authenticate"]

UNAUTHORISED = {"Status": 403, "Message": "Unauthorised"}
TOTP_REQUIRED = {"Status": 403, "Message": "ERR_TOTP_REQUIRED"}
LOGIN_LOCKED = {"Status": 429, "Message": "ERR_LOGIN_LOCKED"}

_TOTP_RE = re.compile(r"^\d{6}$")


@dataclass
class AuthRefused:
    """Why a call was refused: the HTTP status and the JSON body to answer with."""

    http_status: int
    body: dict[str, Any]


def _totp_ok(admin: AdminAccount, code: str) -> bool:
    if not _TOTP_RE.match(code) or code in admin.used_totp:
        return False
    if admin.totp_codes is not None and code not in admin.totp_codes:
        return False
    admin.used_totp.add(code)
    return True


def _check(sim: SimContext, form: Mapping[str, str]) -> AdminAccount | AuthRefused:
    username = form.get("Username", "")
    auth_type = form.get("AuthType", "Password")
    if auth_type == "SessionKey":
        session = sim.state.sessions.get(form.get("SessionKey", ""))
        admin = sim.state.admins.get(username)
        if (
            session is None
            or session.session_type != "admin"
            or admin is None
            or session.username != username
        ):
            return AuthRefused(200, dict(UNAUTHORISED))
        return admin
    admin = sim.state.admins.get(username)
    if admin is None or form.get("Password") != admin.password:
        return AuthRefused(200, dict(UNAUTHORISED))
    if auth_type == "Password":
        if admin.totp_required:
            return AuthRefused(200, dict(TOTP_REQUIRED))
        return admin
    if auth_type == "PasswordTOTP":
        return admin if _totp_ok(admin, form.get("TOTP", "")) else AuthRefused(200, dict(UNAUTHORISED))
    return AuthRefused(200, dict(UNAUTHORISED))


def authenticate(sim: SimContext, form: Mapping[str, str], source: str) -> AdminAccount | AuthRefused:
    """The admin this call authenticates as, or the refusal to send back."""
    now = time.monotonic()
    faults = sim.faults
    if faults.lockout is not None and faults.is_locked(source, now):
        sim.counters.lockouts += 1
        return AuthRefused(429, dict(LOGIN_LOCKED))
    result = _check(sim, form)
    if isinstance(result, AuthRefused):
        if result.body["Message"] == UNAUTHORISED["Message"]:
            sim.counters.auth_failures += 1
            faults.record_login_failure(source, now)
    else:
        faults.record_login_success(source)
    return result
