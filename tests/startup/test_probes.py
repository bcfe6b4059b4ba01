"""The metrics listener: /metrics for Prometheus, /healthz and /readyz for Kubernetes HTTP probes,
and nothing else (`/` is not a metrics page)."""

from __future__ import annotations

import asyncio
import logging
import urllib.error
import urllib.request
from pathlib import Path

from comet_provisioning import logs
from comet_provisioning.app import running_service
from comet_provisioning.probes import Readiness
from comet_provisioning.store import current_revision, head_revision, open_database, upgrade
from sqlalchemy import text

from tests.fixtures.db import service_settings


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - http, our own listener
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


async def test_probes_and_metrics_and_nothing_else(sqlite_url: str, tmp_path: Path) -> None:
    settings = service_settings(sqlite_url, tmp_path / "data")
    settings.metrics_listen = "127.0.0.1:0"
    async with running_service(settings) as server:
        base = f"http://127.0.0.1:{server.metrics_port}"
        status, body = await asyncio.to_thread(get, base + "/")
        assert status == 404
        assert "# HELP" not in body
        assert (await asyncio.to_thread(get, base + "/favicon.ico"))[0] == 404
        status, body = await asyncio.to_thread(get, base + "/metrics")
        assert status == 200
        assert "grpc_server_started_total" in body
        assert await asyncio.to_thread(get, base + "/healthz") == (200, "alive\n")
        assert await asyncio.to_thread(get, base + "/readyz") == (200, "ready\n")

        # a schema behind this version's (another replica rolled back, a restore): not ready
        db = open_database(sqlite_url)
        try:
            async with db.transaction() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
            status, body = await asyncio.to_thread(get, base + "/readyz")
            assert status == 503
            assert "schema is at 0003" in body
            assert (await asyncio.to_thread(get, base + "/healthz"))[0] == 200
            async with db.transaction() as conn:
                await conn.execute(
                    text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()}
                )
        finally:
            await db.close()
        assert (await asyncio.to_thread(get, base + "/readyz"))[0] == 200


async def test_not_ready_until_serving_nor_while_draining_nor_when_the_store_fails() -> None:
    async def revision() -> str:
        return "0004"

    readiness = Readiness(asyncio.get_running_loop(), revision, "0004")
    assert await asyncio.to_thread(readiness.ready) == (False, "not serving (starting or shutting down)")
    readiness.serving = True
    assert await asyncio.to_thread(readiness.ready) == (True, "ready")

    async def unreachable() -> str:
        raise OSError("connection refused")

    failing = Readiness(asyncio.get_running_loop(), unreachable, "0004")
    failing.serving = True
    assert await asyncio.to_thread(failing.ready) == (False, "the store is unreachable (OSError)")


async def test_a_readiness_probe_writes_no_log_line(sqlite_url: str) -> None:
    """Kubernetes probes every few seconds: reading the schema's revision must not log each time."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    db = open_database(sqlite_url)
    try:
        await upgrade(db)
        logs.configure("INFO", "json")
        seen: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = seen.append  # type: ignore[method-assign]
        root.addHandler(handler)
        assert await current_revision(db) == head_revision()
        assert [record.getMessage() for record in seen if record.name.startswith("alembic")] == []
    finally:
        root.handlers[:], root.level = saved
        await db.close()
