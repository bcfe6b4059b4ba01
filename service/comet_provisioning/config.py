"""Configuration: defaults, then a TOML file, then COMET_PROVISIONING_* environment variables,
then command-line flags. Defaults are safe: listen on loopback, an embedded SQLite file under the
data directory, reflection on, plaintext only on loopback unless TLS files are given.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "COMET_PROVISIONING_"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the setting."""


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
    # Prometheus metrics listener (HOST:PORT); empty for none.
    metrics_listen: str = ""
    # Seconds between background usage syncs of each server; 0 turns the sync off.
    usage_sync_interval_s: float = 900.0
    # Repair quota/policy drift found by the usage sync (otherwise only report it).
    repair_drift: bool = False
    # Maximum concurrent RPCs being served; beyond it calls get RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = 2000
    # TLS for the gRPC listener.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # CA bundle to verify client certificates (mTLS); empty for no client certificates.
    tls_client_ca_file: str = ""

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir) / 'comet-provisioning.sqlite3'}"


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
            setattr(settings, key, _coerce(key, value, getattr(settings, key)))
    environ = os.environ if env is None else env
    for name in known:
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is not None:
            setattr(settings, name, _coerce(name, raw, getattr(settings, name)))
    for name, value in (overrides or {}).items():
        if value is not None:
            setattr(settings, name, _coerce(name, value, getattr(settings, name)))
    return settings


def replace(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, **changes)
