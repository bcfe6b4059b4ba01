"""The secret key against the store: checked at start-up, and every sealed value re-sealed on rotation.

The store keeps a check value: a known text sealed (AES-GCM) under the key it was created with,
never the key. At start-up the configured keys must open it, else nothing starts and nothing is
written. A store from before the check existed is adopted when the keys open the secrets it holds.

The store also keeps the request-fingerprint key, sealed: fingerprints of idempotent requests stay
comparable across a rotation (a retry sent after it still matches what was stored before it).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from comet_provisioning.crypto import SecretBox, SecretUnreadable

from .database import Database
from .facts import get_facts, lock_facts, put_fact
from .schema import accounts, servers

__all__ = ["KeyCheck", "KeyMismatch", "ResealReport", "check_keys", "reseal"]

CHECK_FACT = "secret_key_check"
FINGERPRINT_FACT = "request_fingerprint_key"
_CHECK_TEXT = "comet-provisioning: the secret key opens this store"

MISMATCH_FIX = (
    "start with the key this database was created with (secret_key / secret_key_file); to change keys, "
    "keep the old one in previous_secret_keys and run `comet-provisioning reseal`"
)


class KeyMismatch(Exception):
    """The configured keys cannot read the store (the message says so and how to fix it)."""


@dataclass
class KeyCheck:
    # The check value opened only with a previous key: a rotation waits for `reseal`.
    reseal_pending: bool = False
    # Stored secrets none of the keys opens, found when adopting a store without a check value.
    unreadable: list[str] = field(default_factory=list)


@dataclass
class ResealReport:
    servers: int = 0
    accounts: int = 0
    unreadable: list[str] = field(default_factory=list)


def _pack(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def _unpack(value: str) -> bytes:
    try:
        return base64.b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError):
        return b""


async def _sealed_values(conn: AsyncConnection) -> list[tuple[str, str, bytes]]:
    """(what it is, its associated data, the sealed bytes) for every secret the store holds."""
    found: list[tuple[str, str, bytes]] = []
    rows = await conn.execute(select(servers.c.id, servers.c.display_name, servers.c.admin_password_enc))
    for server_id, name, blob in rows.all():
        found.append((f"server {name!r} ({server_id}) admin password", str(server_id), bytes(blob)))
    pending = await conn.execute(
        select(accounts.c.id, accounts.c.pending_password_enc).where(
            accounts.c.pending_password_enc.is_not(None)
        )
    )
    for account_id, blob in pending.all():
        found.append((f"account {account_id} pending password", f"account:{account_id}", bytes(blob)))
    return found


async def _write_facts(conn: AsyncConnection, box: SecretBox, key_index: int = 0) -> None:
    """The check value and the fingerprint key, sealed under the key the store's secrets are under."""
    check = box.encrypt(_CHECK_TEXT, bound_to=CHECK_FACT, key_index=key_index)
    await put_fact(conn, CHECK_FACT, _pack(check))
    mac_key = base64.b64encode(box.fingerprint_key).decode()
    await put_fact(
        conn, FINGERPRINT_FACT, _pack(box.encrypt(mac_key, bound_to=FINGERPRINT_FACT, key_index=key_index))
    )


def _open_fingerprint_key(box: SecretBox, value: str) -> None:
    encoded, _ = box.open(_unpack(value), bound_to=FINGERPRINT_FACT)
    box.use_fingerprint_key(base64.b64decode(encoded))


async def check_keys(db: Database, box: SecretBox) -> KeyCheck:
    """Verifies the keys against the store (KeyMismatch if they cannot read it); on a store without a
    check value, writes one. Sets the box's fingerprint key to the store's."""
    async with db.transaction() as conn:
        await lock_facts(conn)
        facts = await get_facts(conn)
        if CHECK_FACT in facts:
            try:
                text, index = box.open(_unpack(facts[CHECK_FACT]), bound_to=CHECK_FACT)
                if FINGERPRINT_FACT in facts:
                    _open_fingerprint_key(box, facts[FINGERPRINT_FACT])
            except SecretUnreadable:
                raise KeyMismatch(f"the secret key does not match the database: {MISMATCH_FIX}") from None
            if text != _CHECK_TEXT:
                raise KeyMismatch(f"the database's key check value is not this service's: {MISMATCH_FIX}")
            return KeyCheck(reseal_pending=index != 0)
        # A new store, or one from before the check value: the keys must open what it holds.
        check = KeyCheck()
        opened_by: int | None = None
        for what, bound_to, blob in await _sealed_values(conn):
            try:
                _, index = box.open(blob, bound_to=bound_to)
            except SecretUnreadable:
                check.unreadable.append(what)
                continue
            opened_by = index if opened_by is None else opened_by
        if check.unreadable and opened_by is None:
            raise KeyMismatch(
                f"the secret key does not match the database (it opens none of the {len(check.unreadable)} "
                f"secrets stored): {MISMATCH_FIX}"
            )
        # Fingerprints stored so far were made with the key that sealed the secrets, and the check
        # value goes under that key too: it must not vouch for a key that cannot open them.
        box.use_fingerprint_key(box.derived_fingerprint_key(opened_by or 0))
        await _write_facts(conn, box, key_index=opened_by or 0)
        check.reseal_pending = bool(opened_by)
        return check


async def reseal(db: Database, box: SecretBox) -> ResealReport:
    """Every sealed value, and the check value, sealed again under the current key, in one
    transaction. Call after `check_keys`. A value changed meanwhile by a running service is left
    as it is (it was written under the current key)."""
    report = ResealReport()
    async with db.transaction() as conn:
        await lock_facts(conn)
        for what, bound_to, blob in await _sealed_values(conn):
            try:
                plaintext, _ = box.open(blob, bound_to=bound_to)
            except SecretUnreadable:
                report.unreadable.append(what)
                continue
            fresh = box.encrypt(plaintext, bound_to=bound_to)
            if bound_to.startswith("account:"):
                account_id = bound_to.removeprefix("account:")
                # the version moves, so a save prepared from the old row is stale and retried
                done = await conn.execute(
                    accounts.update()
                    .where(accounts.c.id == account_id, accounts.c.pending_password_enc == blob)
                    .values(pending_password_enc=fresh, version=accounts.c.version + 1)
                )
                report.accounts += done.rowcount or 0
            else:
                done = await conn.execute(
                    servers.update()
                    .where(servers.c.id == bound_to, servers.c.admin_password_enc == blob)
                    .values(admin_password_enc=fresh)
                )
                report.servers += done.rowcount or 0
        await _write_facts(conn, box)
    return report
