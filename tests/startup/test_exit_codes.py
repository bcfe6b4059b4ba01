"""Start-up failures an operator meets: one line naming the fix and a distinct exit code each,
never a traceback."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from tests.fixtures.db import fresh_postgres_database
from tests.fixtures.service import ServiceProcess, free_port, new_secret_key, service_env
from tests.startup.support import fatal_line, run


def test_grpc_port_in_use_exits_3(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(["serve", "--listen", f"127.0.0.1:{port}"], service_env(tmp_path), tmp_path)
    assert done.returncode == 3
    message = fatal_line(done)["message"]
    assert f"cannot listen on 127.0.0.1:{port} (listen)" in message
    assert "in use" in message
    assert "COMET_PROVISIONING_LISTEN" in message


def test_metrics_port_in_use_exits_4(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(
            ["serve", "--listen", f"127.0.0.1:{free_port()}", "--metrics-listen", f"127.0.0.1:{port}"],
            service_env(tmp_path),
            tmp_path,
        )
    assert done.returncode == 4
    message = fatal_line(done)["message"]
    assert f"cannot listen on 127.0.0.1:{port} (metrics_listen)" in message
    assert "in use" in message


def test_unreachable_postgresql_exits_5_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://comet:s3cret-pw@127.0.0.1:{free_port()}/comet"
    done = run(["serve"], service_env(tmp_path, COMET_PROVISIONING_DATABASE_URL=url), tmp_path)
    assert done.returncode == 5
    message = fatal_line(done)["message"]
    assert "cannot reach the database postgresql+asyncpg://comet:***@127.0.0.1" in message
    assert "s3cret-pw" not in done.stderr
    migrate = run(["migrate", "--database-url", url], service_env(tmp_path), tmp_path)
    assert migrate.returncode == 5
    assert migrate.stderr.strip().startswith("comet-provisioning: cannot reach the database")
    assert "Traceback" not in migrate.stderr


def test_an_unsupported_database_exits_2(tmp_path: Path) -> None:
    done = run(["serve"], service_env(tmp_path, COMET_PROVISIONING_DATABASE_URL="mysql://db/comet"), tmp_path)
    assert done.returncode == 2
    assert "'mysql' databases are not supported; use postgresql://" in fatal_line(done)["message"]


@pytest.mark.parametrize("scheme", ["sqlite", "sqlite+pysqlite"])
def test_migrate_takes_a_sync_sqlite_url(tmp_path: Path, scheme: str) -> None:
    done = run(
        ["migrate", "--database-url", f"{scheme}:///{tmp_path / 'x.sqlite3'}"],
        service_env(tmp_path),
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "database schema at revision" in done.stdout


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
async def test_postgresql_urls_without_the_async_driver_are_accepted(tmp_path: Path, scheme: str) -> None:
    async with fresh_postgres_database() as url:
        plain = scheme + url[url.index("://") :]
        done = run(["migrate", "--database-url", plain], service_env(tmp_path), tmp_path)
        assert done.returncode == 0, done.stderr
        service = ServiceProcess(
            address=f"127.0.0.1:{free_port()}",
            data_dir=tmp_path,
            log_path=tmp_path / "service.log",
            env=service_env(tmp_path, COMET_PROVISIONING_DATABASE_URL=plain),
        )
        try:
            service.start()
        finally:
            service.stop()
        assert service.wait() == 0


def _migrated_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    assert run(["migrate", "--database-url", url], service_env(tmp_path), tmp_path).returncode == 0
    return url


def test_a_schema_newer_than_this_version_exits_6(tmp_path: Path) -> None:
    url = _migrated_sqlite(tmp_path)
    with sqlite3.connect(tmp_path / "store.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    done = run(["serve"], service_env(tmp_path, COMET_PROVISIONING_DATABASE_URL=url), tmp_path)
    assert done.returncode == 6
    assert "schema is at revision 9999, which this version does not know" in fatal_line(done)["message"]


def test_a_schema_behind_without_migrate_on_start_exits_6(tmp_path: Path) -> None:
    url = _migrated_sqlite(tmp_path)
    with sqlite3.connect(tmp_path / "store.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0003'")
    env = service_env(
        tmp_path, COMET_PROVISIONING_DATABASE_URL=url, COMET_PROVISIONING_MIGRATE_ON_START="false"
    )
    done = run(["serve"], env, tmp_path)
    assert done.returncode == 6
    assert "run `comet-provisioning migrate`" in fatal_line(done)["message"]


def _table_contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(path) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"'), key=repr) for name in names}  # noqa: S608


def test_a_wrong_secret_key_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    first = ServiceProcess(
        address=f"127.0.0.1:{free_port()}",
        data_dir=tmp_path,
        log_path=tmp_path / "service.log",
        env=service_env(tmp_path),
    )
    first.start()
    first.stop()
    before = _table_contents(tmp_path / "comet-provisioning.sqlite3")
    assert before["service_facts"]
    done = run(["serve"], service_env(tmp_path, COMET_PROVISIONING_SECRET_KEY=new_secret_key()), tmp_path)
    assert done.returncode == 2
    message = fatal_line(done)["message"]
    assert message.startswith("the secret key does not match the database")
    assert "previous_secret_keys" in message
    assert _table_contents(tmp_path / "comet-provisioning.sqlite3") == before
