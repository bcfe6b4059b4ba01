"""Configuration: defaults, then a TOML file, then COMET_PROVISIONING_* environment variables,
then command-line flags. Defaults are safe: listen on loopback, an embedded SQLite file under the
data directory, reflection on, plaintext only on loopback unless TLS files are given.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from comet_provisioning.exits import CommandError, ExitCode

ENV_PREFIX = "COMET_PROVISIONING_"


class ConfigError(CommandError, ValueError):
    """The configuration is invalid; the message names the setting (exit code 2 unless told)."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.CONFIG) -> None:
        super().__init__(message, exit_code)


# Caller roles, weakest first; each includes the ones before it (see api/auth.py for the method map).
ROLE_NAMES = ("viewer", "provisioner", "admin")
_TOKEN_HASH = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class TokenEntry:
    """A bearer token a caller may present: its name (logged as the caller), hash and role."""

    name: str
    hash: str = field(repr=False)  # "sha256:<64 hex>" of the token (`comet-provisioning hash-token`)
    role: str


@dataclass(frozen=True)
class ClientCertEntry:
    """A client certificate identity (subject CN or a DNS/URI SAN) and the role it is given."""

    name: str
    role: str


@dataclass
class Settings:
    # Where the gRPC server listens.
    listen: str = "127.0.0.1:50051"
    # Directory for the default SQLite database and the demo's key file.
    data_dir: str = "./data"
    # SQLAlchemy URL; empty means SQLite at {data_dir}/comet-provisioning.sqlite3. For several
    # replicas use PostgreSQL: postgresql+asyncpg://user@host/db
    database_url: str = ""
    # Key that encrypts Comet admin passwords at rest (urlsafe base64, 32 bytes), or a file holding it.
    secret_key: str = field(default="", repr=False)
    secret_key_file: str = ""
    # Apply pending schema migrations at start-up.
    migrate_on_start: bool = True
    # Seconds in-flight calls get to finish after SIGTERM/SIGINT.
    shutdown_grace_s: float = 10.0
    # Serve gRPC server reflection (grpcurl list/describe).
    reflection: bool = True
    log_level: str = "INFO"
    # json, text, or auto (text on a terminal).
    log_format: str = "auto"
    # The event loop of `serve`: auto (uvloop where installed), uvloop, or asyncio.
    event_loop: str = "auto"
    # Prometheus metrics listener (HOST:PORT); empty for none.
    metrics_listen: str = ""
    # Seconds between background usage syncs of each server; 0 turns the sync off.
    usage_sync_interval_s: float = 900.0
    # Seconds between sweeps that resume provisioning left unfinished (a crash, a dead replica).
    resume_interval_s: float = 10.0
    # How long a replica's claim on an account outlives the replica (renewed while it works).
    account_lease_s: float = 15.0
    # Repair quota/policy drift found by the usage sync (otherwise only report it).
    repair_drift: bool = False
    # Events kept per account in its log (ListAccountEvents); older ones are pruned.
    event_retention: int = 1000
    # Maximum concurrent RPCs being served; beyond it calls get RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = 2000
    # TLS for the gRPC listener.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # CA bundle to verify client certificates (mTLS); empty for no client certificates. When set,
    # every connection must present a certificate signed by it.
    tls_client_ca_file: str = ""
    # Serve plaintext gRPC on a non-loopback address (behind a TLS-terminating proxy or in a
    # private network). Without TLS files and without this, only loopback addresses are allowed.
    allow_plaintext: bool = False
    # Bearer tokens ([[tokens]] name/hash/role in the file; JSON list in COMET_PROVISIONING_TOKENS).
    # No tokens and no client CA means no authentication: allowed on loopback or with --demo only.
    tokens: list[TokenEntry] = field(default_factory=list)
    # Client certificate identities ([[client_certs]] name/role; JSON in COMET_PROVISIONING_CLIENT_CERTS).
    client_certs: list[ClientCertEntry] = field(default_factory=list)
    # Let reflection (grpcurl list/describe) answer callers without credentials.
    reflection_public: bool = True
    # RPCs per Comet server that may wait for a free connection; beyond it COMET_SERVER_BUSY.
    max_waiting_per_server: int = 200
    # Seconds between refreshes of the accounts-by-status gauge.
    metrics_refresh_s: float = 30.0
    # This process's identity in account leases: stable across restarts, so a restarted process
    # resumes its own unfinished work at once instead of waiting out its leases. Must be unique
    # among running replicas. Empty: the host name and the listen port.
    replica_id: str = ""
    # How long an order that meets transient Comet failures keeps being retried in the background
    # (seconds since its first failure) before it ends FAILED.
    provision_retry_window_s: float = 86400.0
    # The first retry's delay (seconds); it doubles with each failure, up to ten minutes.
    provision_retry_delay_s: float = 5.0
    # How long a generated password stays sealed after its account became ACTIVE, for the order's
    # retries (the first reply may never have reached the caller); then it is erased.
    generated_password_retention_s: float = 86400.0

    # A Comet server is marked down after this many consecutive transient failures (new accounts
    # then go to the other servers of its group), and probed again after server_retry_after_s.
    server_down_after_failures: int = 3
    server_retry_after_s: float = 10.0

    @property
    def effective_replica_id(self) -> str:
        """`replica_id`, or the host name and listen port: stable across restarts of one process.
        A listener on port 0 has no stable identity, so it gets a fresh one."""
        if self.replica_id:
            return self.replica_id[:64]
        port = self.listen.rpartition(":")[2]
        if port in ("", "0"):
            return uuid.uuid4().hex
        return f"{socket.gethostname()}:{port}"[-64:]

    # -- operations: key rotation, the demo's own data, the health probe --------------------------
    # Keys that only read: secrets sealed under them still open, new ones are sealed under
    # secret_key. For a rotation (`comet-provisioning reseal` re-seals everything under secret_key).
    # A TOML list; in the environment a comma-separated or JSON list.
    previous_secret_keys: list[str] = field(default_factory=list, repr=False)
    previous_secret_key_files: list[str] = field(default_factory=list)
    # `serve --demo` keeps its database, key and simulator state here; empty: "<data_dir>-demo".
    demo_data_dir: str = ""
    # `comet-provisioning health` under TLS: the CA that signed tls_cert_file (empty: tls_cert_file
    # itself, i.e. a self-signed certificate) and, under mTLS, a client certificate the client CA accepts.
    health_ca_file: str = ""
    health_cert_file: str = ""
    health_key_file: str = field(default="", repr=False)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir) / 'comet-provisioning.sqlite3'}"

    def for_demo(self) -> Settings:
        """The settings `serve --demo` runs with: its own data directory, never the service's."""
        demo_dir = self.demo_data_dir or str(Path(self.data_dir).resolve()) + "-demo"
        return dataclasses.replace(self, data_dir=demo_dir)


def _coerce(name: str, raw: Any, target: Any) -> Any:
    kind = type(target)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(text)
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {raw!r} as {kind.__name__}") from exc


def _entries(name: str, raw: Any, keys: tuple[str, ...]) -> list[dict[str, str]]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError as exc:
            raise ConfigError(f"setting {name!r}: not valid JSON ({exc.msg})") from None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"setting {name!r}: expected a list of tables with {', '.join(keys)}")
    found: list[dict[str, str]] = []
    for index, item in enumerate(raw):
        if isinstance(item, TokenEntry | ClientCertEntry):
            item = dataclasses.asdict(item)
        if not isinstance(item, dict) or set(item) != set(keys):
            shown = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise ConfigError(f"setting {name!r}[{index}]: expected keys {', '.join(keys)}, got {shown}")
        entry = {key: str(item[key]).strip() for key in keys}
        if not entry["name"]:
            raise ConfigError(f"setting {name!r}[{index}]: name must not be empty")
        if entry["role"] not in ROLE_NAMES:
            raise ConfigError(
                f"setting {name!r}[{index}] ({entry['name']}): role must be one of {', '.join(ROLE_NAMES)}"
            )
        found.append(entry)
    names = [entry["name"] for entry in found]
    if len(set(names)) != len(names):
        raise ConfigError(f"setting {name!r}: names must be unique")
    return found


def _tokens(raw: Any) -> list[TokenEntry]:
    entries = _entries("tokens", raw, ("name", "hash", "role"))
    for index, entry in enumerate(entries):
        entry["hash"] = entry["hash"].lower()
        if not _TOKEN_HASH.fullmatch(entry["hash"]):
            # never echo the value: someone may have pasted the token itself
            raise ConfigError(
                f"setting 'tokens'[{index}] ({entry['name']}): hash must be sha256:<64 hex digits> "
                "(make one with `comet-provisioning hash-token`)"
            )
    hashes = [entry["hash"] for entry in entries]
    if len(set(hashes)) != len(hashes):
        raise ConfigError("setting 'tokens': two entries have the same hash")
    return [TokenEntry(**entry) for entry in entries]


def _client_certs(raw: Any) -> list[ClientCertEntry]:
    return [ClientCertEntry(**entry) for entry in _entries("client_certs", raw, ("name", "role"))]


def _strings(name: str) -> Any:
    """A list of strings from TOML, or from the environment as JSON or comma-separated text."""

    def parse(raw: Any) -> list[str]:
        if isinstance(raw, str):
            text = raw.strip()
            if text.startswith("["):
                try:
                    raw = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"setting {name!r}: not valid JSON ({exc.msg})") from None
            else:
                raw = [part for part in text.split(",") if part.strip()]
        if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
            raise ConfigError(f"setting {name!r}: expected a list of strings")
        return [item.strip() for item in raw if item.strip()]

    return parse


_STRUCTURED = {
    "tokens": _tokens,
    "client_certs": _client_certs,
    "previous_secret_keys": _strings("previous_secret_keys"),
    "previous_secret_key_files": _strings("previous_secret_key_files"),
}


def _set(settings: Settings, name: str, raw: Any) -> None:
    parse = _STRUCTURED.get(name)
    setattr(settings, name, parse(raw) if parse else _coerce(name, raw, getattr(settings, name)))


def load(
    config_file: str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Builds Settings from the layered sources; unknown keys in the file are an error."""
    settings = Settings()
    known = {f.name for f in fields(Settings)}
    if config_file:
        try:
            data = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from exc
        for key, value in data.items():
            if key not in known:
                raise ConfigError(f"config file {config_file}: unknown setting {key!r}")
            _set(settings, key, value)
    environ = os.environ if env is None else env
    for name in known:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            _set(settings, name, raw)
    for name, value in (overrides or {}).items():
        if value is not None:
            _set(settings, name, value)
    return settings


def replace(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)
