"""What the client knows about each admin endpoint: whether re-sending it is safe, and its parameters."""

from __future__ import annotations

__all__ = [
    "CREDENTIALS_ONLY_ENDPOINTS",
    "HASH_CHECKED_ENDPOINTS",
    "READ_ONLY_ENDPOINTS",
    "TARGET_USER_ENDPOINTS",
]

READ_ONLY_ENDPOINTS = frozenset(
    {
        "meta/version",
        "account/properties",
        "get-user-profile",
        "get-user-profile-and-hash",
        "get-user-profile-hash",
        "list-users",
        "list-users-full",
        "policies/list",
        "policies/list-full",
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
        "get-user-profile-hash",
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

CREDENTIALS_ONLY_ENDPOINTS = frozenset(
    {"meta/version", "account/properties", "list-users", "list-users-full"}
)
"""Endpoints without parameters that every admin may call: a 403 there can only be about the admin
credentials (elsewhere it may be a missing permission or, on 20.9-22.3, a missing user)."""

HASH_CHECKED_ENDPOINTS = frozenset({"set-user-profile-hash", "policies/set", "request-storage-vault"})
"""Endpoints that take a hash and can be refused because it is stale."""
