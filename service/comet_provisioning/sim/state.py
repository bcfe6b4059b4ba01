"""The simulated server's data: admins, users and their profiles, policies, storage providers,
live connections, jobs and sessions.

Handlers mutate this only through the methods here, so the invariants (a stored profile never holds
`Policy`, the hash changes on every write, per-user job indexes stay in step) live in one place.
Everything is in memory and keyed by dicts so one request costs O(1) whatever the number of users;
only the calls that are inherently server-wide (`list-users-full`, job searches) walk everything.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ids import IdSource
from .profiles import JsonObject, hash_profile, merge_submitted_profile, new_profile, password_hash
from .versions import DEFAULT_VERSION, ServerVersion

__all__ = [
    "DEFAULT_PROVIDER_ID",
    "DEFAULT_PROVIDER_NAME",
    "AdminAccount",
    "PolicyRecord",
    "Session",
    "SimState",
    "UserRecord",
    "os_info",
    "profile_map",
]

DEFAULT_PROVIDER_ID = "5D2D8F1A0C7B4E39"

# OSInfo as a device reports it (the SDKs' keys are lower case), per seeded platform name.
_OS_INFO: dict[str, JsonObject] = {
    "windows": {"version": "2009", "distribution": "Windows 10 Pro", "build": "19045", "arch": "amd64"},
    "linux": {"version": "12", "distribution": "debian", "build": "", "arch": "amd64"},
    "darwin": {"version": "14.5", "distribution": "macOS", "build": "23F79", "arch": "arm64"},
}
DEFAULT_PROVIDER_NAME = "Comet Storage (simulated)"

DESTINATION_COMET = 1003
JOB_BACKUP = 4001
JOB_SUCCESS = 5000


def os_info(platform: str) -> JsonObject:
    """The OSInfo object (`version`, `distribution`, `build`, `os`, `arch`) for a platform name."""
    goos = "darwin" if platform in ("macos", "darwin") else platform
    info = dict(_OS_INFO.get(goos, {"version": "", "distribution": goos, "build": "", "arch": "amd64"}))
    info["os"] = goos
    return info


def profile_map(profile: JsonObject, key: str) -> JsonObject:
    """The map under `key`, created when absent or null (a client may write back an old server's null)."""
    value = profile.get(key)
    if not isinstance(value, dict):
        value = {}
        profile[key] = value
    return value


@dataclass
class AdminAccount:
    """An admin login. `totp_codes` None accepts any unused six-digit code."""

    username: str
    password: str
    totp_required: bool = False
    totp_codes: set[str] | None = None
    used_totp: set[str] = field(default_factory=set)
    organization_id: str = ""


@dataclass
class UserRecord:
    """One end-user account: its stored profile (never holding `Policy`) and secrets."""

    username: str
    password: str
    profile: JsonObject
    recovery_code: str | None
    revision: int = 0
    profile_hash: str = ""

    def rehash(self) -> None:
        self.profile_hash = hash_profile(self.profile, self.revision)

    def touch(self) -> None:
        """Record a modification: the hash changes even if the content did not."""
        self.revision += 1
        self.rehash()


@dataclass
class PolicyRecord:
    """A group policy (`{Description, OrganizationID, Policy, DefaultUserPolicy}`) and its hash."""

    group_policy: JsonObject
    policy_hash: str


@dataclass
class Session:
    key: str
    session_type: str  # "admin" or "user"
    username: str
    created: int


class SimState:
    """All server-side data of one simulated Comet Server."""

    def __init__(
        self,
        *,
        version: str = DEFAULT_VERSION,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.version = ServerVersion(version)
        self.clock = clock
        # How far the simulated server's clock is ahead of `clock` (the host's); a behaviour switch.
        self.clock_offset_s = 0.0
        self.ids = IdSource(seed)
        self._seed = seed
        self.admins: dict[str, AdminAccount] = {}
        self._started_at = clock()
        self.server_start_hash = self.ids.token(16)
        self._init_data()

    def _init_data(self) -> None:
        self.users: dict[str, UserRecord] = {}
        self.policies: dict[str, PolicyRecord] = {}
        self.providers: dict[str, str] = {DEFAULT_PROVIDER_ID: DEFAULT_PROVIDER_NAME}
        self.connections: dict[str, JsonObject] = {}
        self.jobs: list[JsonObject] = []
        self.jobs_by_user: dict[str, list[JsonObject]] = {}
        self.sessions: dict[str, Session] = {}
        self.deleted_users: list[JsonObject] = []
        self.refetch_requests: list[str] = []
        self.revoked_devices: list[tuple[str, str]] = []
        self._policy_revision = 0

    def now(self) -> int:
        """Unix seconds on the simulated server's clock: every time it hands out comes from here."""
        return int(self.clock() + self.clock_offset_s)

    @property
    def server_start_time(self) -> int:
        return int(self._started_at + self.clock_offset_s)

    def set_version(self, version: str) -> None:
        self.version = ServerVersion(version)

    def reset(self) -> None:
        """Forget all accounts, policies, jobs, connections and sessions; keep admins and version."""
        self.ids.reseed(self._seed)
        self._init_data()

    # --- admins and sessions -------------------------------------------------------------

    def add_admin(
        self,
        username: str,
        password: str,
        *,
        totp_required: bool = False,
        totp_codes: set[str] | None = None,
        organization_id: str = "",
    ) -> AdminAccount:
        admin = AdminAccount(
            username=username,
            password=password,
            totp_required=totp_required,
            totp_codes=totp_codes,
            organization_id=organization_id,
        )
        self.admins[username] = admin
        return admin

    def start_session(self, session_type: str, username: str) -> Session:
        session = Session(self.ids.token(24), session_type, username, self.now())
        self.sessions[session.key] = session
        return session

    # --- users -----------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        password: str,
        *,
        store_recovery_code: bool = True,
        require_password_change: bool = False,
        organization_id: str = "",
    ) -> UserRecord:
        """Create an account exactly as `add-user` does (no validation: callers validate)."""
        recovery = self.ids.token(16) if store_recovery_code else None
        profile = new_profile(
            username=username,
            password=password,
            create_time=self.now(),
            creation_guid=self.ids.guid(),
            salt=self.ids.token(8),
            recovery=f"sim-recovery:{hashlib.sha256(recovery.encode()).hexdigest()}" if recovery else "",
            require_password_change=require_password_change,
            organization_id=organization_id,
            version=self.version,
        )
        record = UserRecord(username, password, profile, recovery)
        record.rehash()
        self.users[username] = record
        return record

    def render_profile(self, record: UserRecord) -> JsonObject:
        """The profile as the API returns it: the stored object plus the effective `Policy`."""
        out = dict(record.profile)
        out["Policy"] = self.effective_policy(str(record.profile.get("PolicyID", "") or ""))
        return out

    def effective_policy(self, policy_id: str) -> JsonObject:
        policy = self.policies.get(policy_id) if policy_id else None
        if policy is None:
            return {}
        inner = policy.group_policy.get("Policy", {})
        return copy.deepcopy(inner) if isinstance(inner, dict) else {}

    def replace_profile(self, record: UserRecord, submitted: JsonObject) -> None:
        """Store a client-submitted profile (server-owned fields keep the server's values)."""
        record.profile = merge_submitted_profile(
            record.profile, submitted, version=self.version, now=self.now()
        )
        record.touch()

    def set_password(self, record: UserRecord, password: str) -> None:
        salt = self.ids.token(8)
        record.password = password
        record.profile["PasswordHash"] = password_hash(record.username, password, salt)
        record.touch()

    def delete_user(self, username: str, uninstall_config: JsonObject | None) -> None:
        self.users.pop(username, None)
        for conn_id in [c for c, v in self.connections.items() if v.get("Username") == username]:
            del self.connections[conn_id]
        for key in [
            k for k, s in self.sessions.items() if s.session_type == "user" and s.username == username
        ]:
            del self.sessions[key]
        self.deleted_users.append(
            {"Username": username, "UninstallConfig": uninstall_config, "Time": self.now()}
        )

    def add_comet_vault(
        self, record: UserRecord, description: str, self_address: str, device_id: str = ""
    ) -> str:
        """Append a new Comet-storage vault (DestinationType 1003) and return its id."""
        dest_id = self.ids.guid()
        now = self.now()
        destinations = profile_map(record.profile, "Destinations")
        destinations[dest_id] = {
            "Description": description,
            "DestinationType": DESTINATION_COMET,
            "CometServer": self_address,
            "CometBucket": self.ids.hex_id(12).lower(),
            "CometBucketKey": self.ids.token(16),
            "StorageLimitEnabled": False,
            "StorageLimitBytes": 0,
            "CreateTime": now,
            "ModifyTime": now,
            "Statistics": {
                "ClientProvidedSize": {"Size": 0, "MeasureStarted": 0, "MeasureCompleted": 0},
                "ClientProvidedContent": {"Components": []},
            },
            "DefaultRetention": {"Mode": 801, "Ranges": []},
            "RebrandStorage": False,
            "AssociatedDevices": [device_id] if device_id else [],
        }
        record.touch()
        return dest_id

    # --- policies --------------------------------------------------------------------------

    def _policy_hash(self, group_policy: JsonObject) -> str:
        self._policy_revision += 1
        return hash_profile(group_policy, self._policy_revision)

    def set_policy(self, policy_id: str, group_policy: JsonObject) -> str:
        record = PolicyRecord(group_policy, self._policy_hash(group_policy))
        self.policies[policy_id] = record
        return record.policy_hash

    # --- jobs ------------------------------------------------------------------------------

    def add_job(self, job: JsonObject) -> JsonObject:
        self.jobs.append(job)
        self.jobs_by_user.setdefault(str(job.get("Username", "")), []).append(job)
        return job

    # --- seeding helpers (tests, demo, /__sim__/seed) ------------------------------------------

    def _user(self, username: str) -> UserRecord:
        try:
            return self.users[username]
        except KeyError:
            raise KeyError(f"no such simulated user {username!r}") from None

    def seed_user(
        self,
        username: str,
        password: str = "sim-password-1",  # noqa: S107 - seed data, not a secret
        *,
        store_recovery_code: bool = True,
        profile: JsonObject | None = None,
    ) -> UserRecord:
        """Create a user without the API's validation, optionally overlaying profile fields."""
        record = self.create_user(username, password, store_recovery_code=store_recovery_code)
        if profile:
            record.profile.update(copy.deepcopy(profile))
            record.profile["Username"] = username
            record.touch()
        return record

    def seed_device(
        self,
        username: str,
        device_id: str | None = None,
        *,
        friendly_name: str = "SIM-PC",
        platform: str = "windows",
        **extra: Any,
    ) -> str:
        record = self._user(username)
        device_id = device_id or self.ids.guid()
        profile_map(record.profile, "Devices")[device_id] = {
            "FriendlyName": friendly_name,
            "RegistrationTime": self.now(),
            "PlatformVersion": os_info(platform),
            "DeviceTimezone": "UTC",
            "ClientVersion": self.version.text,
            "Sources": {},
            **extra,
        }
        record.touch()
        return device_id

    def seed_protected_item(
        self,
        username: str,
        item_id: str | None = None,
        *,
        description: str = "Files and Folders",
        engine: str = "engine1/file",
        owner_device: str = "",
        total_size: int = 0,
        last_job: JsonObject | None = None,
        **extra: Any,
    ) -> str:
        record = self._user(username)
        item_id = item_id or self.ids.guid()
        job = self._job_template(username, SourceGUID=item_id, DeviceID=owner_device, TotalSize=total_size)
        job.update(last_job or {})
        profile_map(record.profile, "Sources")[item_id] = {
            "Description": description,
            "Engine": engine,
            "OwnerDevice": owner_device,
            "CreateTime": self.now(),
            "ModifyTime": self.now(),
            "EngineProps": {},
            "Statistics": {"LastStartTime": job["StartTime"], "LastBackupJob": job},
            **extra,
        }
        record.touch()
        return item_id

    def seed_vault(
        self,
        username: str,
        destination_id: str | None = None,
        *,
        size: int = 0,
        description: str = DEFAULT_PROVIDER_NAME,
        destination_type: int = DESTINATION_COMET,
        storage_limit_bytes: int | None = None,
        **extra: Any,
    ) -> str:
        record = self._user(username)
        destination_id = destination_id or self.ids.guid()
        profile_map(record.profile, "Destinations")[destination_id] = {
            "Description": description,
            "DestinationType": destination_type,
            "StorageLimitEnabled": storage_limit_bytes is not None,
            "StorageLimitBytes": storage_limit_bytes or 0,
            "CreateTime": self.now(),
            "ModifyTime": self.now(),
            "Statistics": {
                "ClientProvidedSize": {"Size": size, "MeasureStarted": 0, "MeasureCompleted": self.now()},
            },
            **extra,
        }
        record.touch()
        return destination_id

    def set_vault_usage(self, username: str, destination_id: str, size: int) -> None:
        record = self._user(username)
        vault = record.profile["Destinations"][destination_id]
        stats = vault.setdefault("Statistics", {})
        stats.setdefault("ClientProvidedSize", {})["Size"] = size
        record.touch()

    def seed_connection(
        self,
        username: str,
        device_id: str = "",
        connection_id: str | None = None,
        *,
        platform: str = "windows",
        **fields: Any,
    ) -> str:
        connection_id = connection_id or self.ids.guid()
        info = os_info(platform)
        # The fields of the SDKs' LiveUserConnection; ReportedPlatform is "<os>/<arch>".
        self.connections[connection_id] = {
            "Username": username,
            "DeviceID": device_id,
            "ReportedVersion": self.version.text,
            "ReportedPlatform": f"{info['os']}/{info['arch']}",
            "ReportedPlatformVersion": info,
            "DeviceTimeZone": "UTC",
            "IPAddress": "203.0.113.10",
            "ConnectionTime": self.now(),
            "AllowsFilenames": True,
            **fields,
        }
        return connection_id

    def _job_template(self, username: str, **fields: Any) -> JsonObject:
        now = self.now()
        job: JsonObject = {
            "GUID": self.ids.guid(),
            "Username": username,
            "Classification": JOB_BACKUP,
            "Status": JOB_SUCCESS,
            "StartTime": now - 60,
            "EndTime": now,
            "SourceGUID": "",
            "DestinationGUID": "",
            "DeviceID": "",
            "SnapshotID": "",
            "ClientVersion": self.version.text,
            "TotalDirectories": 0,
            "TotalFiles": 0,
            "TotalSize": 0,
            "TotalChunks": 0,
            "UploadSize": 0,
            "DownloadSize": 0,
            "CancellationID": "",
        }
        job.update(fields)
        return job

    def seed_job(self, username: str, **fields: Any) -> JsonObject:
        """Record a BackupJobDetail (any field overridable, e.g. StartTime, Status, TotalSize)."""
        return self.add_job(self._job_template(username, **fields))

    def seed_provider(self, provider_id: str, description: str) -> None:
        self.providers[provider_id] = description

    def seed_policy(self, policy_id: str, policy: JsonObject | None = None, *, description: str = "") -> str:
        group_policy: JsonObject = {
            "Description": description or policy_id,
            "OrganizationID": "",
            "Policy": policy or {},
            "DefaultUserPolicy": False,
        }
        return self.set_policy(policy_id, group_policy)

    # --- persistence -----------------------------------------------------------------------

    def to_json(self) -> JsonObject:
        return {
            "Version": self.version.text,
            "Admins": [
                {
                    "Username": a.username,
                    "Password": a.password,
                    "TOTPRequired": a.totp_required,
                    "TOTPCodes": sorted(a.totp_codes) if a.totp_codes is not None else None,
                    "OrganizationID": a.organization_id,
                }
                for a in self.admins.values()
            ],
            "Users": {
                name: {
                    "Password": u.password,
                    "RecoveryCode": u.recovery_code,
                    "Revision": u.revision,
                    "Profile": u.profile,
                }
                for name, u in self.users.items()
            },
            "Policies": {pid: p.group_policy for pid, p in self.policies.items()},
            "Providers": self.providers,
            "Connections": self.connections,
            "Jobs": self.jobs,
            "DeletedUsers": self.deleted_users,
        }

    def load_json(self, data: JsonObject) -> None:
        """Replace the data with a `to_json` snapshot (admins present in it are added)."""
        self._init_data()
        for admin in data.get("Admins", []):
            codes = admin.get("TOTPCodes")
            self.add_admin(
                admin["Username"],
                admin["Password"],
                totp_required=bool(admin.get("TOTPRequired", False)),
                totp_codes=set(codes) if codes is not None else None,
                organization_id=admin.get("OrganizationID", ""),
            )
        for name, user in data.get("Users", {}).items():
            record = UserRecord(
                name,
                user["Password"],
                user["Profile"],
                user.get("RecoveryCode"),
                int(user.get("Revision", 0)),
            )
            record.rehash()
            self.users[name] = record
        for pid, group_policy in data.get("Policies", {}).items():
            self.set_policy(pid, group_policy)
        self.providers = dict(data.get("Providers", self.providers))
        self.connections = dict(data.get("Connections", {}))
        for job in data.get("Jobs", []):
            self.add_job(job)
        self.deleted_users = list(data.get("DeletedUsers", []))

    def save(self, path: str | Path) -> None:
        target = Path(path)
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True))
        tmp.replace(target)

    def load(self, path: str | Path) -> None:
        self.load_json(json.loads(Path(path).read_text()))
