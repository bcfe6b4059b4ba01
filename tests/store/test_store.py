"""The store itself: migrations, schema parity, secrets at rest, keys, idempotency, concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from comet_provisioning.app import running_service
from comet_provisioning.config import ConfigError
from comet_provisioning.core.errors import ServiceError
from comet_provisioning.core.models import ServerGroup
from comet_provisioning.core.request_ids import RequestIds
from comet_provisioning.core.server_repository import NameTaken
from comet_provisioning.core.unit_of_work import UnitOfWork
from comet_provisioning.crypto import SecretBox, SecretKeyError, generate_key, load_key
from comet_provisioning.store import current_revision, head_revision, open_database, upgrade, utcnow
from comet_provisioning.store.schema import idempotency_keys, metadata, server_groups
from comet_provisioning.store.unit_of_work import SqlStore
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from tests.fixtures.db import service_settings


async def test_migrations_reach_head_idempotently_and_match_the_schema(database_url: str) -> None:
    db = open_database(database_url)
    try:
        assert await current_revision(db) is None
        assert await upgrade(db) == head_revision()
        assert await upgrade(db) == head_revision()

        def diff(conn: Connection) -> list[object]:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))

        async with db.read() as conn:
            differences = await conn.run_sync(diff)
        assert differences == []
    finally:
        await db.close()


def test_migrate_command(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "comet-provisioning"), "migrate", "--database-url", url],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("COMET_PROVISIONING_")},
    )
    assert result.returncode == 0, result.stderr
    assert f"revision {head_revision()}" in result.stdout


def test_secret_box_binds_ciphertext_to_its_row() -> None:
    box = SecretBox(load_key(generate_key(), ""))
    blob = box.encrypt("hunter2-password", bound_to="server-a")
    assert b"hunter2" not in blob
    assert box.decrypt(blob, bound_to="server-a") == "hunter2-password"
    assert box.encrypt("hunter2-password", bound_to="server-a") != blob  # fresh nonce each time
    with pytest.raises(SecretKeyError):
        box.decrypt(blob, bound_to="server-b")
    with pytest.raises(SecretKeyError):
        SecretBox(load_key(generate_key(), "")).decrypt(blob, bound_to="server-a")
    assert box.fingerprint(b"x") == box.fingerprint(b"x") != box.fingerprint(b"y")
    assert "key" in repr(box)


def test_keys_come_from_settings_a_file_or_the_demo(tmp_path: Path) -> None:
    key = generate_key()
    (tmp_path / "k").write_text(key + "\n")
    assert load_key("", str(tmp_path / "k")) == load_key(key, "")
    with pytest.raises(SecretKeyError, match="no secret key"):
        load_key("", "")
    with pytest.raises(SecretKeyError, match="32 bytes"):
        load_key("c2hvcnQ=", "")
    with pytest.raises(SecretKeyError):
        load_key("", str(tmp_path / "missing"))
    demo = load_key("", "", demo_dir=tmp_path / "demo")
    assert load_key("", "", demo_dir=tmp_path / "demo") == demo
    assert stat.S_IMODE((tmp_path / "demo" / "secret.key").stat().st_mode) == 0o600


async def test_service_refuses_to_start_without_a_key(sqlite_url: str, tmp_path: Path) -> None:
    settings = service_settings(sqlite_url, tmp_path / "data")
    settings.secret_key = ""
    with pytest.raises(ConfigError, match="no secret key"):
        async with running_service(settings):
            pass
    async with running_service(settings, demo=True) as server:
        assert server.port > 0
    assert (tmp_path / "data-demo" / "secret.key").exists()  # the demo's own directory
    assert not (tmp_path / "data" / "secret.key").exists()


async def test_service_refuses_an_old_schema_when_not_migrating(sqlite_url: str, tmp_path: Path) -> None:
    settings = service_settings(sqlite_url, tmp_path / "data")
    settings.migrate_on_start = False
    with pytest.raises(ConfigError, match="comet-provisioning migrate"):
        async with running_service(settings):
            pass


async def test_a_request_id_commits_its_work_and_its_record_together(database_url: str) -> None:
    db = open_database(database_url)
    await upgrade(db)
    request_ids = RequestIds(SqlStore(db), SecretBox(load_key(generate_key(), "")))
    calls = 0

    def group(name: str) -> ServerGroup:
        now = utcnow()
        return ServerGroup(f"{name:0>32}", name, "LEAST_ACCOUNTS", False, now, now)

    async def work(uow: UnitOfWork) -> bytes:
        nonlocal calls
        calls += 1
        await uow.server_groups.add(group(f"g{calls}"))
        return b"response-%d" % calls

    async def failing(uow: UnitOfWork) -> bytes:
        await work(uow)
        raise RuntimeError("boom")

    try:
        with pytest.raises(RuntimeError):
            await request_ids.run("M", "r1", "fp", failing)
        assert await request_ids.run("M", "r1", "fp", work) == b"response-2"
        assert await request_ids.run("M", "r1", "fp", work) == b"response-2"
        with pytest.raises(ServiceError) as reused:
            await request_ids.run("M", "r1", "other", work)
        assert reused.value.reason == "REQUEST_ID_REUSED"
        async with db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(server_groups))).scalar_one() == 1

        # A unique name taken by another write is the domain's error, and nothing is recorded.
        async def duplicate(uow: UnitOfWork) -> bytes:
            await uow.server_groups.add(group("g2"))
            return b""

        with pytest.raises(NameTaken):
            await request_ids.run("M", "r2", "fp", duplicate)
        async with db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(idempotency_keys))).scalar_one() == 1
        request_ids.retention = dt.timedelta(seconds=-1)
        assert await request_ids.prune() == 1
    finally:
        await db.close()


async def test_sqlite_serializes_hundreds_of_writers(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    await upgrade(db)

    async def write(i: int) -> None:
        async with db.transaction() as conn:
            now = utcnow()
            await conn.execute(
                insert(server_groups).values(
                    id=f"{i:032x}",
                    name=f"w{i}",
                    placement_rule="FILL_IN_ORDER",
                    failover=True,
                    create_time=now,
                    update_time=now,
                )
            )
            await asyncio.sleep(0)  # yield inside the transaction: others must queue, not fail

    try:
        await asyncio.gather(*(write(i) for i in range(300)))
        async with db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(server_groups))).scalar_one() == 300
            stamp = (await conn.execute(select(server_groups.c.create_time).limit(1))).scalar_one()
        assert stamp.tzinfo is not None
    finally:
        await db.close()
