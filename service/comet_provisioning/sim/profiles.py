"""User profile documents: what a new account looks like and how a submitted profile is merged.

Profiles are kept as plain JSON objects, never as a fixed model, because the whole point of the
simulator is to catch clients that drop fields they do not know: whatever a client submits is stored
as is, except the fields only the server may write.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from .versions import ServerVersion

__all__ = [
    "EXTRA_PROFILE_FIELDS",
    "SERVER_OWNED_FIELDS",
    "JsonObject",
    "hash_profile",
    "merge_submitted_profile",
    "new_profile",
    "password_hash",
]

JsonObject = dict[str, Any]

# Fields a client may send back but never change: the server keeps its own value.
SERVER_OWNED_FIELDS: tuple[str, ...] = (
    "Username",
    "CreateTime",
    "CreationGUID",
    "PasswordFormat",
    "PasswordHash",
    "PasswordRecovery",
    "TOTPKeyEncryptionFormat",
    "TOTPKey",
)

# Fields a real server carries that a provisioning client has no reason to model. Tests check that
# they survive a read-modify-write untouched.
EXTRA_PROFILE_FIELDS: JsonObject = {
    "LocalTimezone": "",
    "LanguageCode": "",
    "OverrideEmailSettings": {},
    "BackupRules": {},
    "QuotaHyperVGuests": 0,
    "QuotaVMwareGuests": 0,
    "AllowPasswordLogin": True,
    "AllowPasswordAndTOTPLogin": False,
    "SimFutureFeature": {"Enabled": True, "Levels": [1, 2, 3], "Note": "unknown to clients"},
}

_PASSWORD_FORMAT_SIM = 11


def password_hash(username: str, password: str, salt: str) -> str:
    """An opaque stand-in for Comet's password hash (changes when the password changes)."""
    digest = hashlib.sha256(f"{salt}:{username}:{password}".encode()).hexdigest()
    return f"{salt}${digest}"


def new_profile(
    *,
    username: str,
    password: str,
    create_time: int,
    creation_guid: str,
    salt: str,
    recovery: str,
    require_password_change: bool,
    organization_id: str,
    version: ServerVersion,
) -> JsonObject:
    """The profile `add-user` creates, with the fields the presented version has."""
    profile: JsonObject = {
        "Username": username,
        "AccountName": "",
        "Emails": [],
        "SendEmailReports": False,
        "Destinations": {},
        "Sources": {},
        "Devices": {},
        "MaximumDevices": 0,
        "AllProtectedItemsQuotaEnabled": False,
        "AllProtectedItemsQuotaBytes": 0,
        "QuotaOffice365ProtectedAccounts": 0,
        "IsSuspended": False,
        "PolicyID": "",
        "PasswordFormat": _PASSWORD_FORMAT_SIM,
        "PasswordHash": password_hash(username, password, salt),
        "PasswordRecovery": recovery,
        "TOTPKeyEncryptionFormat": 0,
        "TOTPKey": "",
        "CreateTime": create_time,
        "CreationGUID": creation_guid,
    }
    profile.update(copy.deepcopy(EXTRA_PROFILE_FIELDS))
    if version.supports_require_password_change:
        profile["RequirePasswordChange"] = require_password_change
    if version.supports_organizations:
        profile["OrganizationID"] = organization_id
    if version.has_last_suspended:
        profile["LastSuspended"] = 0
    return profile


def merge_submitted_profile(
    stored: JsonObject, submitted: JsonObject, *, version: ServerVersion, now: int
) -> JsonObject:
    """The profile to store after a client submitted `submitted` over `stored`.

    Exactly the submitted object, except: server-owned fields keep the server's value, `Policy` (the
    read-only effective copy) is dropped, and on 22.12.8+ `LastSuspended` is stamped when the
    account goes from active to suspended.
    """
    result: JsonObject = dict(submitted)
    result.pop("Policy", None)
    for key in SERVER_OWNED_FIELDS:
        if key in stored:
            result[key] = stored[key]
        else:
            result.pop(key, None)
    if version.has_last_suspended:
        was = bool(stored.get("IsSuspended", False))
        now_suspended = bool(result.get("IsSuspended", False))
        if now_suspended and not was:
            result["LastSuspended"] = now
        else:
            result["LastSuspended"] = stored.get("LastSuspended", 0)
    return result


def hash_profile(profile: JsonObject, revision: int) -> str:
    """The ProfileHash: content plus a revision counter, so every write changes it."""
    body = json.dumps(profile, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{revision}\n{body}".encode()).hexdigest()[:32]
