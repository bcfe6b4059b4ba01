"""`gen-key` (a new secret key) and `reseal` (every stored secret sealed again under the current
key: the last step of a key rotation, after which previous_secret_keys can be emptied)."""

from __future__ import annotations

import os
import sys

from comet_provisioning.config import ConfigError, Settings
from comet_provisioning.crypto import generate_key
from comet_provisioning.exits import CommandError, ExitCode
from comet_provisioning.startup import open_checked_database, secret_box
from comet_provisioning.store import DatabaseUnavailable, current_revision, head_revision
from comet_provisioning.store.keycheck import KeyMismatch, check_keys, reseal

__all__ = ["gen_key", "reseal_command"]


def gen_key(out: str | None) -> int:
    """Prints a new key, or writes it to a new file only its owner may read."""
    key = generate_key()
    if not out:
        print(key)
        return ExitCode.OK
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CommandError(
            f"gen-key: {out} exists; a key file is never overwritten", ExitCode.CONFIG
        ) from None
    except OSError as exc:
        raise CommandError(f"gen-key: cannot create {out}: {exc.strerror}", ExitCode.CONFIG) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    print(f"wrote a new secret key to {out} (mode 0600)", file=sys.stderr)
    return ExitCode.OK


async def reseal_command(settings: Settings) -> int:
    box = secret_box(settings)
    db = open_checked_database(settings)
    try:
        try:
            await db.ping()
        except DatabaseUnavailable as exc:
            raise CommandError(str(exc), ExitCode.DATABASE_UNAVAILABLE) from None
        current, head = await current_revision(db), head_revision()
        if current != head:
            raise ConfigError(
                f"the database schema is at {current or 'nothing'}, this version needs {head}: "
                "run `comet-provisioning migrate` first",
                ExitCode.SCHEMA_MISMATCH,
            )
        try:
            await check_keys(db, box)
        except KeyMismatch as exc:
            raise ConfigError(str(exc)) from None
        report = await reseal(db, box)
    finally:
        await db.close()
    print(
        f"re-sealed {report.servers} server admin password(s) and {report.accounts} pending customer "
        "password(s) under the current secret key"
    )
    if report.unreadable:
        for what in report.unreadable:
            print(
                f"comet-provisioning: reseal: {what} opens with none of the configured keys", file=sys.stderr
            )
        return ExitCode.SECRETS_UNREADABLE
    print("the previous keys are no longer needed: remove them from previous_secret_keys")
    return ExitCode.OK
