"""Proto conversion for an account's usage (from the store) and its live view (the client area),
plus the installer platform names."""

from __future__ import annotations

import datetime as dt
from typing import Any

from comet_provisioning_client.v1 import accounts_pb2

from comet_provisioning.api.convert import timestamp
from comet_provisioning.core.accounts.client_area import LiveDetails
from comet_provisioning.core.accounts.jobs import JobRecord
from comet_provisioning.core.accounts.profile import DesiredProfile
from comet_provisioning.core.accounts.usage import VaultReading

__all__ = ["PLATFORMS", "live_message", "quotas_message", "usage_message"]

PLATFORMS: dict[accounts_pb2.ClientPlatform.ValueType, str] = {
    accounts_pb2.CLIENT_PLATFORM_WINDOWS_ANYCPU_ZIP: "windows-anycpu-zip",
    accounts_pb2.CLIENT_PLATFORM_WINDOWS_X86_64_ZIP: "windows-x86_64-zip",
    accounts_pb2.CLIENT_PLATFORM_WINDOWS_X86_32_ZIP: "windows-x86_32-zip",
    accounts_pb2.CLIENT_PLATFORM_WINDOWS_ANYCPU_EXE: "windows-anycpu-exe",
    accounts_pb2.CLIENT_PLATFORM_LINUX_GENERIC: "linuxgeneric",
    accounts_pb2.CLIENT_PLATFORM_MACOS_X86_64: "macos-x86_64",
    accounts_pb2.CLIENT_PLATFORM_MACOS_ARM64: "macos-arm64",
}


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _unix(seconds: int) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds > 0 else None


def usage_message(usage: dict[str, Any], sync_time: dt.datetime | None) -> accounts_pb2.Usage:
    """The stored usage record (core.accounts.usage.compute_usage) as a Usage message."""
    message = accounts_pb2.Usage(
        vaults=[
            accounts_pb2.VaultUsage(
                vault_id=str(vault.get("vault_id", "")),
                description=str(vault.get("description", "")),
                used_bytes=_int(vault.get("used_bytes")),
                limit_bytes=_int(vault.get("limit_bytes")),
                over_quota=vault.get("over_quota") is True,
            )
            for vault in usage.get("vaults") or []
            if isinstance(vault, dict)
        ],
        vault_bytes=_int(usage.get("vault_bytes")),
        protected_items_bytes=_int(usage.get("protected_items_bytes")),
        device_count=_int(usage.get("device_count")),
        last_backup_status=str(usage.get("last_backup_status") or ""),
        protected_items_over_quota=usage.get("protected_items_over_quota") is True,
        devices_over_quota=usage.get("devices_over_quota") is True,
        vaults_over_quota=usage.get("vaults_over_quota") is True,
        drift_detected=usage.get("drift_detected") is True,
    )
    last = _unix(_int(usage.get("last_backup_time")))
    if last is not None:
        message.last_backup_time.CopyFrom(timestamp(last))
    if sync_time is not None:
        message.sync_time.CopyFrom(timestamp(sync_time))
    return message


def quotas_message(quotas: DesiredProfile) -> accounts_pb2.EffectiveQuotas:
    return accounts_pb2.EffectiveQuotas(
        max_devices=quotas.max_devices,
        protected_items_quota_bytes=quotas.protected_items_quota_bytes,
        storage_vault_quota_bytes=quotas.vault_quota_bytes or 0,
        policy_id=quotas.policy_id,
    )


def _vault(vault: VaultReading) -> accounts_pb2.VaultUsage:
    return accounts_pb2.VaultUsage(
        vault_id=vault.vault_id,
        description=vault.description,
        used_bytes=vault.used_bytes,
        limit_bytes=vault.limit_bytes,
        over_quota=vault.over_quota,
    )


def job_message(job: JobRecord) -> accounts_pb2.Job:
    message = accounts_pb2.Job(
        id=job.id,
        type=accounts_pb2.JobType.Value(f"JOB_TYPE_{job.type}"),
        status=accounts_pb2.JobStatus.Value(f"JOB_STATUS_{job.status}"),
        classification_code=job.classification_code,
        status_code=job.status_code,
        protected_item_id=job.protected_item_id,
        vault_id=job.vault_id,
        device_id=job.device_id,
        total_bytes=job.total_bytes,
        upload_bytes=job.upload_bytes,
    )
    start, end = _unix(job.start_time), _unix(job.end_time)
    if start is not None:
        message.start_time.CopyFrom(timestamp(start))
    if end is not None:
        message.end_time.CopyFrom(timestamp(end))
    return message


def live_message(live: LiveDetails) -> accounts_pb2.LiveDetails:
    message = accounts_pb2.LiveDetails(
        vaults=[_vault(vault) for vault in live.vaults],
        recent_jobs=[job_message(job) for job in live.recent_jobs],
        space_used_bytes=live.space_used_bytes,
        comet_suspended=live.comet_suspended,
        missing=live.missing,
    )
    for device in live.devices:
        entry = message.devices.add(
            id=device.id,
            friendly_name=device.friendly_name,
            platform=device.platform,
            online=device.online,
            client_version=device.client_version,
            time_zone=device.time_zone,
        )
        if device.registration_time is not None:
            entry.registration_time.CopyFrom(timestamp(device.registration_time))
    for item in live.protected_items:
        entry_item = message.protected_items.add(
            id=item.id,
            description=item.description,
            engine=item.engine,
            device_id=item.device_id,
            size_bytes=item.size_bytes,
        )
        if item.last_job is not None:
            entry_item.last_job.CopyFrom(job_message(item.last_job))
    if live.comet_quotas is not None:
        message.comet_quotas.CopyFrom(quotas_message(live.comet_quotas))
    if live.comet_create_time is not None:
        message.comet_create_time.CopyFrom(timestamp(live.comet_create_time))
    return message
