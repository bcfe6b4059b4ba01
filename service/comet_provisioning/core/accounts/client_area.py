"""The client area (GetAccount FULL): what Comet holds for an account now.

Three Comet reads run concurrently: the profile (devices, protected items, vaults, quotas), the live
connections (which devices are online) and the jobs of the last two weeks. The caller's deadline
bounds them all: whatever has not arrived when the budget runs out (or failed) is named in
`missing` and the rest is returned, so one slow endpoint never makes the view hang.

`dispatcher/list-active` takes `UserNameFilter` from Comet 22.6.7; older servers ignore it and
return every connection, so the result is always filtered here as well.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from comet_provisioning.comet import CometError
from comet_provisioning.core.accounts.model import Account

from .jobs import JobRecord, job_record, recent_jobs_query
from .ports import CometClients
from .profile import DesiredProfile
from .usage import ProtectedItemReading, VaultReading, profile_quotas, protected_items, unix_time, vaults

__all__ = ["DeviceReading", "LiveDetails", "read_live"]

log = logging.getLogger("comet_provisioning.accounts")

RECENT_JOBS = dt.timedelta(days=14)
DEFAULT_BUDGET_S = 10.0
# Kept back from the caller's deadline to build and send the answer.
ANSWER_MARGIN_S = 0.25

PROFILE, ONLINE, JOBS = "profile", "devices_online", "recent_jobs"


@dataclass(frozen=True)
class DeviceReading:
    id: str
    friendly_name: str
    platform: str
    online: bool
    client_version: str
    registration_time: dt.datetime | None
    time_zone: str = ""


@dataclass
class LiveDetails:
    devices: list[DeviceReading] = field(default_factory=list)
    protected_items: list[ProtectedItemReading] = field(default_factory=list)
    vaults: list[VaultReading] = field(default_factory=list)
    recent_jobs: list[JobRecord] = field(default_factory=list)
    space_used_bytes: int = 0
    comet_quotas: DesiredProfile | None = None
    comet_suspended: bool = False
    comet_create_time: dt.datetime | None = None
    missing: list[str] = field(default_factory=list)


# Comet's OS-info object (a device's PlatformVersion, a connection's ReportedPlatformVersion) has
# lower-case keys.
_OS_INFO_KEYS = ("os", "distribution", "version", "build", "arch")


def _os_info(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    parts = [value.get(key) for key in _OS_INFO_KEYS]
    return " ".join(str(part) for part in parts if isinstance(part, str | int) and str(part))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class _Connection:
    """What a live connection says about its device."""

    client_version: str
    platform: str
    time_zone: str


def _devices(profile: dict[str, Any], online: dict[str, _Connection] | None) -> list[DeviceReading]:
    found = []
    raw = profile.get("Devices")
    for device_id, device in sorted((raw if isinstance(raw, dict) else {}).items()):
        device = device if isinstance(device, dict) else {}
        live = online.get(device_id) if online is not None else None
        found.append(
            DeviceReading(
                id=str(device_id),
                friendly_name=_text(device.get("FriendlyName")),
                platform=_os_info(device.get("PlatformVersion")) or (live.platform if live else ""),
                online=live is not None,
                client_version=(live.client_version if live else "") or _text(device.get("ClientVersion")),
                registration_time=unix_time(device.get("RegistrationTime")),
                time_zone=(live.time_zone if live else "") or _text(device.get("DeviceTimezone")),
            )
        )
    return found


def _online(connections: dict[str, Any], username: str) -> dict[str, _Connection]:
    """Device id -> what its live connection reports, for this user's connections only."""
    found: dict[str, _Connection] = {}
    for connection in connections.values():
        if not isinstance(connection, dict) or connection.get("Username") != username:
            continue
        device_id = connection.get("DeviceID")
        if isinstance(device_id, str) and device_id:
            found[device_id] = _Connection(
                client_version=_text(connection.get("ReportedVersion")),
                platform=_os_info(connection.get("ReportedPlatformVersion")),
                time_zone=_text(connection.get("DeviceTimeZone")),
            )
    return found


async def read_live(
    clients: CometClients, account: Account, *, budget_s: float | None, now: dt.datetime
) -> LiveDetails:
    """The live view of an account that has a Comet user; `budget_s` None means the default."""
    loop = asyncio.get_running_loop()
    budget = DEFAULT_BUDGET_S if budget_s is None else budget_s - ANSWER_MARGIN_S
    budget = max(0.05, budget)
    deadline = loop.time() + budget
    live = LiveDetails()
    try:
        client = await clients.client(account.server_id)
    except Exception:
        log.warning("client area: server unavailable", extra={"account_id": account.id})
        live.missing = [PROFILE, ONLINE, JOBS]
        return live
    username = account.username
    since = int((now - RECENT_JOBS).timestamp())
    remaining = max(0.05, deadline - loop.time())
    calls: dict[str, Awaitable[Any]] = {
        PROFILE: client.get_user_profile(username, timeout_s=remaining),
        ONLINE: client.list_active_connections(username, timeout_s=remaining),
        JOBS: client.get_jobs_for_custom_search(recent_jobs_query(username, since), timeout_s=remaining),
    }
    tasks = {name: asyncio.ensure_future(call) for name, call in calls.items()}
    done, pending = await asyncio.wait(tasks.values(), timeout=max(0.0, deadline - loop.time()))
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    results: dict[str, Any] = {}
    for name, task in tasks.items():
        if task not in done or task.cancelled():
            live.missing.append(name)
            continue
        error = task.exception()
        if error is not None:
            if not isinstance(error, CometError):
                raise error
            log.warning(
                "client area: a Comet read failed",
                extra={"account_id": account.id, "part": name, "error": error.kind},
            )
            live.missing.append(name)
            continue
        results[name] = task.result()
    online = _online(results[ONLINE], username) if ONLINE in results else None
    profile = results.get(PROFILE)
    if isinstance(profile, dict):
        live.devices = _devices(profile, online)
        live.protected_items = protected_items(profile)
        live.vaults = vaults(profile)
        live.space_used_bytes = sum(item.size_bytes for item in live.protected_items)
        live.comet_quotas = profile_quotas(profile)
        live.comet_suspended = profile.get("IsSuspended") is True
        live.comet_create_time = unix_time(profile.get("CreateTime"))
    if JOBS in results:
        jobs = [job_record(job) for job in results[JOBS] if job.get("Username", username) == username]
        live.recent_jobs = sorted(jobs, key=lambda job: (job.start_time, job.id), reverse=True)
    return live
