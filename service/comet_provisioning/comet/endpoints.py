"""What the client knows about each admin endpoint: whether re-sending it is safe, and its parameters."""

from __future__ import annotations

__all__ = [
    "CREDENTIALS_ONLY_ENDPOINTS",
    "HASH_CHECKED_ENDPOINTS",
    "MISSING_USER_IS_ONLY_FAILURE",
    "READ_ONLY_ENDPOINTS",
    "TARGET_USER_ENDPOINTS",
]

READ_ONLY_ENDPOINTS = frozenset(
    {
        "meta/version",
        "account/properties",
        "get-user-profile",
        "get-user-profile-and-hash",
        "list-users",
        "list-users-full",
        "policies/list",
        "policies/get",
        "request-storage-vault-providers",
        "dispatcher/list-active",
        "get-jobs-for-user",
        "get-jobs-for-custom-search",
    }
)
"""Endpoints that change nothing: safe to re-send after any transient failure."""

TARGET_USER_ENDPOINTS = frozenset(
    {
        "add-user",
        "get-user-profile",
        "get-user-profile-and-hash",
        "set-user-profile-hash",
        "set-user-profile",
        "reset-user-password",
        "delete-user",
        "request-storage-vault",
        "revoke-device",
        "get-jobs-for-user",
        "account/session-start-as-user",
    }
)
"""Endpoints with a ``TargetUser``: a 400 (or, on 20.9-22.3, a 403) may mean "no such user"."""

MISSING_USER_IS_ONLY_FAILURE = frozenset(
    {
        "get-user-profile",
        "get-user-profile-and-hash",
        "delete-user",
        "get-jobs-for-user",
        "account/session-start-as-user",
    }
)
"""TargetUser endpoints whose only parameter-level failure is an unknown user, so a 400 says so."""

CREDENTIALS_ONLY_ENDPOINTS = frozenset({"meta/version", "account/properties"})
"""Endpoints without parameters: any 403 there can only be about the admin credentials."""

HASH_CHECKED_ENDPOINTS = frozenset({"set-user-profile-hash", "policies/set"})
"""Endpoints that take a hash and can be rejected because it is stale."""
