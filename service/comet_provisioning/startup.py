"""Start-up checks: each failure an operator can meet stops the service with one line naming the fix
and its own exit code (exits.py), before anything is written that could not be read back."""

from __future__ import annotations

import errno
import logging
import socket

from comet_provisioning.config import ConfigError, Settings
from comet_provisioning.crypto import SecretBox, SecretKeyError, load_key, load_previous_keys
from comet_provisioning.exits import CommandError, ExitCode
from comet_provisioning.store import (
    Database,
    DatabaseUnavailable,
    SchemaUnknown,
    UnsupportedDatabaseUrl,
    current_revision,
    head_revision,
    open_database,
    upgrade,
)
from comet_provisioning.store.facts import claim_purpose
from comet_provisioning.store.keycheck import KeyMismatch, check_keys

log = logging.getLogger("comet_provisioning")

__all__ = [
    "check_store",
    "listen_failure",
    "open_checked_database",
    "prepare_database",
    "secret_box",
]


def secret_box(settings: Settings, *, demo: bool = False) -> SecretBox:
    """The current key (seals) and the previous ones (only open); ConfigError without a key, except
    in demo, which makes its own in its data directory."""
    try:
        current = load_key(
            settings.secret_key, settings.secret_key_file, demo_dir=settings.data_dir if demo else None
        )
        previous = load_previous_keys(settings.previous_secret_keys, settings.previous_secret_key_files)
        return SecretBox(current, [key for key in previous if key != current])
    except SecretKeyError as exc:
        raise ConfigError(str(exc)) from exc


def open_checked_database(settings: Settings) -> Database:
    try:
        return open_database(settings.effective_database_url)
    except UnsupportedDatabaseUrl as exc:
        raise ConfigError(str(exc)) from None
    except DatabaseUnavailable as exc:
        raise CommandError(str(exc), ExitCode.DATABASE_UNAVAILABLE) from None


async def prepare_database(db: Database, settings: Settings) -> None:
    """Reachable, then migrated when configured to; otherwise refuses a schema that is not current."""
    try:
        await db.ping()
    except DatabaseUnavailable as exc:
        raise CommandError(str(exc), ExitCode.DATABASE_UNAVAILABLE) from None
    try:
        if settings.migrate_on_start:
            revision = await upgrade(db)
            log.info("database schema ready", extra={"revision": revision})
            return
    except SchemaUnknown as exc:
        raise CommandError(str(exc), ExitCode.SCHEMA_MISMATCH) from None
    current, head = await current_revision(db), head_revision()
    if current != head:
        raise ConfigError(
            f"the database schema is at {current or 'nothing'}, this version needs {head}: "
            "run `comet-provisioning migrate` (or set migrate_on_start)",
            ExitCode.SCHEMA_MISMATCH,
        )


async def check_store(db: Database, box: SecretBox, *, demo: bool) -> None:
    """The store is the right one for this run (the demo's or the service's) and the keys read it;
    ConfigError otherwise. Sets the box's fingerprint key to the store's."""
    conflict = await claim_purpose(db, "demo" if demo else "service")
    if conflict and demo:
        raise ConfigError(
            f"--demo refuses database {db.url.render_as_string(hide_password=True)}: it holds the "
            "service's own state; give the demo its own (unset database_url, or set demo_data_dir)"
        )
    if conflict:
        raise ConfigError(
            f"database {db.url.render_as_string(hide_password=True)} holds the demo's state (serve --demo); "
            "point database_url / data_dir at the service's own database"
        )
    try:
        check = await check_keys(db, box)
    except KeyMismatch as exc:
        raise ConfigError(str(exc)) from None
    if check.reseal_pending:
        log.warning(
            "secrets are sealed under a previous key: run `comet-provisioning reseal`, then drop the "
            "previous key from previous_secret_keys"
        )
    for what in check.unreadable:
        log.warning("a stored secret opens with none of the configured keys", extra={"secret": what})


def _bind_problem(host: str, port: int) -> str:
    """Why `host:port` cannot be bound now ("" if it can: the failure was something else)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((host or "0.0.0.0", port))  # noqa: S104 - asked only to explain a failure
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return "the address is in use (another process listens there)"
        return exc.strerror or str(exc)
    except (OverflowError, ValueError) as exc:
        return str(exc)
    return ""


def listen_failure(setting: str, listen: str, exc: BaseException, code: ExitCode) -> CommandError:
    """The one-line error for a listener that could not be bound."""
    host, _, port_text = listen.rpartition(":")
    host = host.strip("[]")
    problem = _bind_problem(host, int(port_text)) if port_text.isdigit() else "expected HOST:PORT"
    return CommandError(
        f"cannot listen on {listen} ({setting}): {problem or exc}; choose a free port with {setting} "
        f"(COMET_PROVISIONING_{setting.upper()}) or stop the process that holds it",
        code,
    )
