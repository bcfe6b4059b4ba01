"""The secret key against the store: the check value, adoption of an older store, rotation, reseal."""

from __future__ import annotations

import asyncio
import base64

import pytest
from comet_provisioning.crypto import SecretBox, SecretUnreadable
from comet_provisioning.store import open_database, upgrade, utcnow
from comet_provisioning.store.database import Database
from comet_provisioning.store.facts import claim_purpose, get_facts
from comet_provisioning.store.keycheck import KeyMismatch, check_keys, reseal
from comet_provisioning.store.schema import accounts, servers, service_facts
from sqlalchemy import select

from tests.fixtures.db import new_secret_key


def box(*keys: str) -> SecretBox:
    raw = [base64.urlsafe_b64decode(key) for key in keys]
    return SecretBox(raw[0], raw[1:])


async def add_server(db: Database, sealer: SecretBox, server_id: str, password: str) -> None:
    now = utcnow()
    async with db.transaction() as conn:
        await conn.execute(
            servers.insert().values(
                id=server_id,
                display_name=f"server {server_id}",
                protocol="HTTPS",
                host="comet.example.com",
                port=443,
                admin_username="admin",
                admin_password_enc=sealer.encrypt(password, bound_to=server_id),
                tls_insecure_skip_verify=False,
                tls_ca_bundle_pem="",
                max_accounts=0,
                max_connections=4,
                placement_order=0,
                create_time=now,
                update_time=now,
            )
        )


async def stored_password(db: Database, server_id: str) -> bytes:
    async with db.read() as conn:
        row = (
            await conn.execute(select(servers.c.admin_password_enc).where(servers.c.id == server_id))
        ).one()
    return bytes(row[0])


async def facts(db: Database) -> dict[str, str]:
    async with db.read() as conn:
        return await get_facts(conn)


@pytest.fixture
async def db(database_url: str) -> Database:
    handle = open_database(database_url)
    await upgrade(handle)
    yield handle  # type: ignore[misc]
    await handle.close()


async def test_an_empty_store_takes_the_key_and_refuses_any_other(db: Database) -> None:
    key_a, key_b = new_secret_key(), new_secret_key()
    first = await check_keys(db, box(key_a))
    assert not first.reseal_pending
    written = await facts(db)
    assert set(written) >= {"secret_key_check", "request_fingerprint_key"}
    raw_a = base64.urlsafe_b64decode(key_a)
    for value in written.values():  # a check value, never the key
        assert key_a not in value
        assert raw_a not in base64.b64decode(value)
    await check_keys(db, box(key_a))  # the same key again
    with pytest.raises(KeyMismatch, match=r"does not match the database.*previous_secret_keys.*reseal"):
        await check_keys(db, box(key_b))
    assert await facts(db) == written  # nothing written under the wrong key


async def test_an_older_store_is_adopted_only_by_a_key_that_opens_its_secrets(db: Database) -> None:
    key_a, key_b = new_secret_key(), new_secret_key()
    await add_server(db, box(key_a), "s1", "admin-password-1")
    with pytest.raises(KeyMismatch, match="opens none of the 1 secrets"):
        await check_keys(db, box(key_b))
    assert await facts(db) == {}
    await check_keys(db, box(key_a))
    with pytest.raises(KeyMismatch):
        await check_keys(db, box(key_b))


async def test_rotation_reads_with_the_old_key_and_reseal_moves_everything(db: Database) -> None:
    key_old, key_new = new_secret_key(), new_secret_key()
    old = box(key_old)
    await check_keys(db, old)
    fingerprint = old.fingerprint(b"CreateAccount\x00request")
    await add_server(db, old, "s1", "admin-password-1")
    now = utcnow()
    async with db.transaction() as conn:
        await conn.execute(
            accounts.insert().values(
                id="a1",
                status="PENDING",
                create_time=now,
                update_time=now,
                pending_password_enc=old.encrypt("customer-password", bound_to="account:a1"),
            )
        )

    rotating = box(key_new, key_old)
    assert (await check_keys(db, rotating)).reseal_pending
    # a retry sent before the rotation still matches its stored fingerprint
    assert rotating.fingerprint(b"CreateAccount\x00request") == fingerprint
    report = await reseal(db, rotating)
    assert (report.servers, report.accounts, report.unreadable) == (1, 1, [])

    new_only = box(key_new)
    assert not (await check_keys(db, new_only)).reseal_pending
    assert new_only.decrypt(await stored_password(db, "s1"), bound_to="s1") == "admin-password-1"
    async with db.read() as conn:
        sealed, version = (
            await conn.execute(
                select(accounts.c.pending_password_enc, accounts.c.version).where(accounts.c.id == "a1")
            )
        ).one()
    assert new_only.decrypt(bytes(sealed), bound_to="account:a1") == "customer-password"
    assert version == 1  # a save prepared from the old row is stale
    assert new_only.fingerprint(b"CreateAccount\x00request") == fingerprint
    with pytest.raises(KeyMismatch):
        await check_keys(db, box(key_old))
    with pytest.raises(SecretUnreadable):
        box(key_old).decrypt(await stored_password(db, "s1"), bound_to="s1")


async def test_reseal_reports_what_no_key_opens(db: Database) -> None:
    key_a, key_stray = new_secret_key(), new_secret_key()
    await check_keys(db, box(key_a))
    await add_server(db, box(key_stray), "stray", "sealed-elsewhere")
    report = await reseal(db, box(key_a))
    assert report.unreadable == ["server 'server stray' (stray) admin password"]
    assert box(key_stray).decrypt(await stored_password(db, "stray"), bound_to="stray") == "sealed-elsewhere"


async def test_replicas_starting_together_write_one_check_value(database_url: str) -> None:
    key = new_secret_key()
    handles = [open_database(database_url) for _ in range(2)]
    try:
        await upgrade(handles[0])
        boxes = [box(key), box(key)]
        await asyncio.gather(
            *(check_keys(handle, sealer) for handle, sealer in zip(handles, boxes, strict=True))
        )
        async with handles[0].read() as conn:
            rows = (await conn.execute(select(service_facts.c.name))).scalars().all()
        assert sorted(rows) == ["request_fingerprint_key", "secret_key_check"]
        assert boxes[0].fingerprint(b"x") == boxes[1].fingerprint(b"x")
    finally:
        for handle in handles:
            await handle.close()


async def test_a_store_serves_the_service_or_the_demo_never_both(db: Database) -> None:
    assert await claim_purpose(db, "demo") == ""
    assert await claim_purpose(db, "demo") == ""
    assert await claim_purpose(db, "service") == "demo"


async def test_an_unmarked_store_with_state_is_the_services(db: Database) -> None:
    await add_server(db, box(new_secret_key()), "s1", "admin-password-1")
    assert await claim_purpose(db, "demo") == "service"
    assert await claim_purpose(db, "service") == ""
    assert (await facts(db))["store_purpose"] == "service"
