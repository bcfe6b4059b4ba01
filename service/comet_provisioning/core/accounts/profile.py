"""What an account's Comet profile should say, and the edits that make it say so.

The profile stays the JSON object Comet sent: these functions change only the keys this service
owns and report whether anything changed, so an unchanged profile is never written back. The
quota rules are the original module's "apply restrictions": GB x 1024^3 and TB x 1024^4 (computed by
the catalogue), the vault quota on every vault, the protected-items quota set or cleared, devices
0 = unlimited, and the product's policy id (or none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COMET_STORAGE_VAULT_TYPE = 1003


@dataclass(frozen=True)
class DesiredProfile:
    max_devices: int
    # 0 clears the protected-items quota.
    protected_items_quota_bytes: int
    # None: the product has no vault quota option, so vaults are left alone; 0 lifts the limits.
    vault_quota_bytes: int | None
    # Empty: no policy group.
    policy_id: str


def _set(target: dict[str, Any], key: str, value: Any) -> bool:
    if target.get(key) == value:
        return False
    target[key] = value
    return True


def apply_quotas(profile: dict[str, Any], desired: DesiredProfile) -> bool:
    """Edits `profile` in place to match `desired`; True if anything changed."""
    changed = _set(profile, "MaximumDevices", desired.max_devices)
    if desired.protected_items_quota_bytes > 0:
        changed |= _set(profile, "AllProtectedItemsQuotaEnabled", True)
        changed |= _set(profile, "AllProtectedItemsQuotaBytes", desired.protected_items_quota_bytes)
    else:
        changed |= _set(profile, "AllProtectedItemsQuotaEnabled", False)
        changed |= _set(profile, "AllProtectedItemsQuotaBytes", 0)
    if desired.vault_quota_bytes is not None:
        for vault in _vaults(profile):
            if desired.vault_quota_bytes > 0:
                changed |= _set(vault, "StorageLimitEnabled", True)
                changed |= _set(vault, "StorageLimitBytes", desired.vault_quota_bytes)
            else:
                changed |= _set(vault, "StorageLimitEnabled", False)
    changed |= _set(profile, "PolicyID", desired.policy_id)
    return changed


def set_suspended(profile: dict[str, Any], suspended: bool) -> bool:
    return _set(profile, "IsSuspended", suspended)


def drift(profile: dict[str, Any], desired: DesiredProfile) -> list[str]:
    """The profile keys whose values differ from what the product asks for (empty: in step)."""
    probe = _deep_copy(profile)
    found = []
    if probe.get("MaximumDevices") != desired.max_devices:
        found.append("MaximumDevices")
    if apply_quotas(probe, desired):
        for key in ("AllProtectedItemsQuotaEnabled", "AllProtectedItemsQuotaBytes", "PolicyID"):
            if probe.get(key) != profile.get(key):
                found.append(key)
        if any(a != b for a, b in zip(_vaults(probe), _vaults(profile), strict=False)):
            found.append("Destinations")
    return found


def _vault_items(profile: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(vault id, vault) by id, skipping anything that is not a vault object."""
    destinations = profile.get("Destinations")
    if not isinstance(destinations, dict):
        return []
    return [(vault_id, vault) for vault_id, vault in sorted(destinations.items()) if isinstance(vault, dict)]


def _vaults(profile: dict[str, Any]) -> list[dict[str, Any]]:
    return [vault for _id, vault in _vault_items(profile)]


def vault_ids(profile: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> list[str]:
    """Ids of the vaults `keep` accepts, sorted."""
    return [vault_id for vault_id, vault in _vault_items(profile) if keep(vault)]


def comet_vault_ids(profile: dict[str, Any]) -> list[str]:
    """Ids of the Comet-type storage vaults, e.g. to find the initial vault after a lost reply."""
    return vault_ids(profile, lambda vault: vault.get("DestinationType") == COMET_STORAGE_VAULT_TYPE)


def created_policy(product_name: str) -> dict[str, Any]:
    """The policy group "[Create New Policy Group]" makes, with the guide's restrictions: no vault
    creation, editing or deletion; only Comet-type vaults; no password change in the client, and
    admins may reset passwords (so the billing system stays the password's source of truth)."""
    return {
        "Description": f"{product_name} (managed by comet-provisioning)",
        "OrganizationID": "",
        "DefaultUserPolicy": False,
        "Policy": {
            "PreventDeleteStorageVault": True,
            "PreventEditStorageVault": True,
            "PreventAddCustomStorageVault": True,
            "PreventRequestStorageVault": True,
            "StorageVaultProviders": {
                "ShouldRestrictProviderList": True,
                "AllowedProvidersWhenRestricted": [COMET_STORAGE_VAULT_TYPE],
            },
            "PreventChangeAccountPassword": True,
            "ModeAdminResetPassword": 3,
        },
    }


def created_policy_id(product_id: str) -> str:
    """Deterministic, so every replica and every retry names the same policy on a server."""
    return f"comet-provisioning-{product_id}"


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
