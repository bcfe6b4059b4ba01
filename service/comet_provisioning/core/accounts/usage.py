"""Usage for billing, read from one Comet profile: what `accounts.usage` holds.

Everything comes from the profile that `list-users-full` returns (one call per server): bytes per
vault (`Statistics.ClientProvidedSize.Size`, what the client last measured) and its limit, the
protected items' sizes (their last backup job's `TotalSize`, the original module's "space used"),
registered devices, the most recent backup, and over-quota flags against the quotas *on Comet*.
The drift list compares the profile with what the product asks for (profile.drift).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .jobs import CLASSIFICATION_BACKUP, JobRecord, job_record
from .profile import DesiredProfile, drift

__all__ = [
    "ProtectedItemReading",
    "VaultReading",
    "compute_usage",
    "last_backup",
    "profile_quotas",
    "protected_items",
    "vaults",
]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return max(0, int(value))


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class VaultReading:
    vault_id: str
    description: str
    used_bytes: int
    limit_bytes: int  # 0: no limit enabled
    over_quota: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "vault_id": self.vault_id,
            "description": self.description,
            "used_bytes": self.used_bytes,
            "limit_bytes": self.limit_bytes,
            "over_quota": self.over_quota,
        }


@dataclass(frozen=True)
class ProtectedItemReading:
    id: str
    description: str
    engine: str
    device_id: str
    size_bytes: int
    last_job: JobRecord | None


def vaults(profile: dict[str, Any]) -> list[VaultReading]:
    """Every storage vault (any type) with its measured size and limit, by id."""
    found = []
    for vault_id, raw in sorted(_dict(profile.get("Destinations")).items()):
        vault = _dict(raw)
        used = _int(_dict(_dict(vault.get("Statistics")).get("ClientProvidedSize")).get("Size"))
        limit = _int(vault.get("StorageLimitBytes")) if vault.get("StorageLimitEnabled") is True else 0
        found.append(
            VaultReading(
                vault_id=str(vault_id),
                description=_str(vault.get("Description")),
                used_bytes=used,
                limit_bytes=limit,
                over_quota=limit > 0 and used > limit,
            )
        )
    return found


def protected_items(profile: dict[str, Any]) -> list[ProtectedItemReading]:
    found = []
    for item_id, raw in sorted(_dict(profile.get("Sources")).items()):
        item = _dict(raw)
        last = _dict(_dict(item.get("Statistics")).get("LastBackupJob"))
        job = job_record(last) if last else None
        found.append(
            ProtectedItemReading(
                id=str(item_id),
                description=_str(item.get("Description")),
                engine=_str(item.get("Engine")),
                device_id=_str(item.get("OwnerDevice")),
                size_bytes=job.total_bytes if job is not None else 0,
                last_job=job,
            )
        )
    return found


def profile_quotas(profile: dict[str, Any]) -> DesiredProfile:
    """The quotas and policy as set on the Comet profile now (vault quota: the first limited
    vault's limit, None when no vault has one)."""
    items_quota = (
        _int(profile.get("AllProtectedItemsQuotaBytes"))
        if profile.get("AllProtectedItemsQuotaEnabled") is True
        else 0
    )
    limited = [v.limit_bytes for v in vaults(profile) if v.limit_bytes > 0]
    return DesiredProfile(
        max_devices=_int(profile.get("MaximumDevices")),
        protected_items_quota_bytes=items_quota,
        vault_quota_bytes=limited[0] if limited else None,
        policy_id=_str(profile.get("PolicyID")),
    )


def last_backup(profile: dict[str, Any], jobs: Iterable[dict[str, Any]] = ()) -> JobRecord | None:
    """The most recent backup job (by start time) among the items' last jobs and `jobs`."""
    candidates = [item.last_job for item in protected_items(profile) if item.last_job is not None]
    candidates += [job_record(job) for job in jobs]
    backups = [
        job
        for job in candidates
        if job.classification_code in (CLASSIFICATION_BACKUP, 0) and job.start_time > 0
    ]
    return max(backups, key=lambda job: job.start_time, default=None)


def compute_usage(
    profile: dict[str, Any],
    desired: DesiredProfile | None,
    *,
    jobs: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The usage record of one account (JSON-serializable; see api.accounts for the proto)."""
    found_vaults = vaults(profile)
    items = protected_items(profile)
    quotas = profile_quotas(profile)
    items_bytes = sum(item.size_bytes for item in items)
    devices = len(_dict(profile.get("Devices")))
    last = last_backup(profile, jobs)
    drifted = drift(profile, desired) if desired is not None else []
    return {
        "vaults": [vault.to_json() for vault in found_vaults],
        "vault_bytes": sum(vault.used_bytes for vault in found_vaults),
        "protected_items_bytes": items_bytes,
        "device_count": devices,
        "last_backup_time": last.start_time if last is not None else None,
        "last_backup_status": last.status if last is not None else "",
        "protected_items_over_quota": quotas.protected_items_quota_bytes > 0
        and items_bytes > quotas.protected_items_quota_bytes,
        "devices_over_quota": quotas.max_devices > 0 and devices > quotas.max_devices,
        "vaults_over_quota": any(vault.over_quota for vault in found_vaults),
        "drift": drifted,
        "drift_detected": bool(drifted),
    }


def unix_time(value: Any) -> dt.datetime | None:
    """A Comet unix timestamp as an aware datetime (None for 0 or garbage)."""
    seconds = _int(value)
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds > 0 else None
