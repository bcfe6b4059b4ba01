"""Prometheus metrics: the gRPC interceptor, the Comet observer, accounts, usage sync, over HTTP."""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import re
import time
import urllib.request
from urllib.parse import urlsplit

import grpc
import pytest
from comet_provisioning.comet.observe import CallRecord
from comet_provisioning.core.errors import ServiceError
from comet_provisioning.core.limits import ServerCallLimiter
from comet_provisioning.metrics import ServiceMetrics, parse_listen
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2, servers_pb2
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD
from tests.security.conftest import Stubs, bearer

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _parse(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(port: int) -> Samples:
    def get() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            assert reply.status == 200
            return str(reply.read().decode())

    return _parse(await asyncio.to_thread(get))


SERVERS = "comet.provisioning.v1.ServerService"
ACCOUNTS = "comet.provisioning.v1.AccountService"


async def test_grpc_counters_by_method_and_code_over_http(service: Stubs) -> None:
    assert service.server.metrics_port
    before = await scrape(service.server.metrics_port)
    # every method has its zero series from the start
    assert (
        "grpc_server_started_total",
        frozenset({"grpc_service": ACCOUNTS, "grpc_method": "CreateAccount", "grpc_type": "unary"}.items()),
    ) in before

    for _ in range(3):
        await service.servers.ListServers(servers_pb2.ListServersRequest(), metadata=bearer("viewer"))
    with pytest.raises(grpc.aio.AioRpcError):
        await service.servers.CreateServer(servers_pb2.CreateServerRequest(), metadata=bearer("viewer"))
    with pytest.raises(grpc.aio.AioRpcError):
        await service.servers.ListServers(servers_pb2.ListServersRequest())
    with pytest.raises(grpc.aio.AioRpcError):
        await service.accounts.GetAccount(accounts_pb2.GetAccountRequest(), metadata=bearer("viewer"))
    with pytest.raises(grpc.aio.AioRpcError):
        async for _ in service.accounts.DownloadClient(
            accounts_pb2.DownloadClientRequest(), metadata=bearer("provisioner")
        ):
            pass

    after = await scrape(service.server.metrics_port)
    unary = {"grpc_type": "unary"}
    list_servers = {"grpc_service": SERVERS, "grpc_method": "ListServers", **unary}
    assert value(after, "grpc_server_started_total", **list_servers) == 4
    assert value(after, "grpc_server_handled_total", **list_servers, grpc_code="OK") == 3
    assert value(after, "grpc_server_handled_total", **list_servers, grpc_code="UNAUTHENTICATED") == 1
    create = {"grpc_service": SERVERS, "grpc_method": "CreateServer", **unary}
    assert value(after, "grpc_server_handled_total", **create, grpc_code="PERMISSION_DENIED") == 1
    get = {"grpc_service": ACCOUNTS, "grpc_method": "GetAccount", **unary}
    assert value(after, "grpc_server_handled_total", **get, grpc_code="INVALID_ARGUMENT") == 1
    assert value(after, "grpc_server_handling_seconds_count", **list_servers) == 4
    assert value(after, "grpc_server_handling_seconds_bucket", **list_servers, le="+Inf") == 4
    download = {"grpc_service": ACCOUNTS, "grpc_method": "DownloadClient", "grpc_type": "server_stream"}
    assert value(after, "grpc_server_started_total", **download) == 1
    assert (
        sum(
            v
            for (name, labels), v in after.items()
            if name == "grpc_server_handled_total" and dict(labels).get("grpc_method") == "DownloadClient"
        )
        == 1
    )


async def test_comet_calls_are_counted_per_server_and_endpoint(
    service: Stubs, comet_sim: CometSimulator
) -> None:
    url = urlsplit(comet_sim.base_url)
    admin = bearer("admin")
    group = await service.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="g")), metadata=admin
    )
    created = await service.servers.CreateServer(
        servers_pb2.CreateServerRequest(
            server=servers_pb2.Server(
                display_name="sim",
                server_group_id=group.server_group.id,
                connection=servers_pb2.ServerConnection(
                    protocol=servers_pb2.PROTOCOL_HTTP,
                    host=url.hostname or "",
                    port=url.port or 0,
                    admin_username=SIM_ADMIN,
                    admin_password=SIM_PASSWORD,
                ),
            )
        ),
        metadata=admin,
    )
    server_id = created.server.id
    await service.servers.ListPolicyGroups(
        servers_pb2.ListPolicyGroupsRequest(server_id=server_id), metadata=admin
    )
    assert service.server.metrics_port
    samples = await scrape(service.server.metrics_port)
    calls = {
        dict(labels)["endpoint"]: v
        for (name, labels), v in samples.items()
        if name == "comet_provisioning_comet_calls_total" and dict(labels)["server_id"] == server_id
    }
    assert calls, "no comet call was observed"
    assert any(v >= 1 for v in calls.values())
    endpoint = next(iter(calls))
    assert (
        value(
            samples,
            "comet_provisioning_comet_call_duration_seconds_count",
            server_id=server_id,
            endpoint=endpoint,
        )
        >= 1
    )
    assert (
        value(
            samples,
            "comet_provisioning_comet_pool_wait_seconds_count",
            server_id=server_id,
            endpoint=endpoint,
        )
        >= 1
    )
    for password in (SIM_PASSWORD,):
        assert password not in str(samples)


def _local(metrics: ServiceMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def _until_accounts(metrics: ServiceMetrics, status: str, value: float) -> None:
    """Waits up to a second for the accounts gauge of `status` to read `value` (the test asserts)."""
    for _ in range(100):
        if _local(metrics, "comet_provisioning_accounts", status=status) == value:
            return
        await asyncio.sleep(0.01)


def test_comet_observer_records_outcomes_and_timings() -> None:
    metrics = ServiceMetrics()
    for outcome in ("ok", "ok", "timeout"):
        metrics.comet.on_call(
            CallRecord(
                "s1",
                "admin/add-user",
                duration_s=0.2,
                pool_wait_s=0.05,
                outcome=outcome,
                http_status=200,
                api_status=200,
            )
        )
    calls = "comet_provisioning_comet_calls_total"
    assert _local(metrics, calls, server_id="s1", endpoint="admin/add-user", outcome="ok") == 2
    assert _local(metrics, calls, server_id="s1", endpoint="admin/add-user", outcome="timeout") == 1
    labels = {"server_id": "s1", "endpoint": "admin/add-user"}
    assert _local(metrics, "comet_provisioning_comet_call_duration_seconds_count", **labels) == 3
    assert _local(metrics, "comet_provisioning_comet_pool_wait_seconds_sum", **labels) == pytest.approx(0.15)


async def test_accounts_gauge_is_refreshed_from_a_count_callback() -> None:
    metrics = ServiceMetrics()
    counts = {"ACTIVE": 7, "SUSPENDED": 2}

    async def count_by_status() -> dict[str, int]:
        return dict(counts)

    await metrics.refresh_accounts(count_by_status)
    assert _local(metrics, "comet_provisioning_accounts", status="ACTIVE") == 7
    del counts["SUSPENDED"]
    counts["TERMINATED"] = 1
    task = metrics.watch_accounts(count_by_status, interval_s=0.01)
    try:
        await _until_accounts(metrics, "TERMINATED", 1)
    finally:
        task.cancel()
    assert _local(metrics, "comet_provisioning_accounts", status="SUSPENDED") == 0
    assert _local(metrics, "comet_provisioning_accounts", status="TERMINATED") == 1


async def test_limits_gauge_counts_accounts_by_whether_their_limits_are_in_force() -> None:
    metrics = ServiceMetrics()
    limits = {"APPLIED": 5, "PENDING": 1, "SUSPENDED": 1}

    async def count_by_status() -> dict[str, int]:
        return {"ACTIVE": 5, "FAILED": 2}

    async def count_by_limits() -> dict[str, int]:
        return dict(limits)

    await metrics.refresh_accounts(count_by_status, count_by_limits)
    assert _local(metrics, "comet_provisioning_account_limits", state="SUSPENDED") == 1
    del limits["PENDING"]
    await metrics.refresh_accounts(count_by_status, count_by_limits)
    assert _local(metrics, "comet_provisioning_account_limits", state="PENDING") == 0
    assert _local(metrics, "comet_provisioning_account_limits", state="APPLIED") == 5


async def test_a_failing_count_callback_does_not_stop_the_refresher() -> None:
    metrics = ServiceMetrics()
    attempts = 0

    async def flaky() -> dict[str, int]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RuntimeError("database is restarting")
        return {"ACTIVE": 1}

    task = metrics.watch_accounts(flaky, interval_s=0.01)
    try:
        await _until_accounts(metrics, "ACTIVE", 1)
    finally:
        task.cancel()
    assert _local(metrics, "comet_provisioning_accounts", status="ACTIVE") == 1


def test_usage_sync_exports_the_time_of_the_last_sync_once() -> None:
    metrics = ServiceMetrics()
    two_minutes_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
    metrics.record_usage_sync("s1", two_minutes_ago)
    metrics.record_usage_sync("s2", time.time())
    last = "comet_provisioning_usage_sync_last_timestamp_seconds"
    assert _local(metrics, last, server_id="s1") == pytest.approx(two_minutes_ago.timestamp())
    # One series per fact: the age is `time() - last` in a query, not a second series.
    assert _local(metrics, "comet_provisioning_usage_sync_age_seconds", server_id="s1") is None
    metrics.forget_server("s1")
    assert _local(metrics, last, server_id="s1") is None
    assert _local(metrics, last, server_id="s2") is not None


async def test_limiter_lanes_are_exported() -> None:
    metrics = ServiceMetrics()
    limiter = ServerCallLimiter(max_waiting=0, capacity=1)
    metrics.watch_limiter(limiter)
    async with limiter.slot("s1"):
        assert _local(metrics, "comet_provisioning_comet_rpcs_active", server_id="s1") == 1

        async def another_rpc() -> None:
            async with limiter.slot("s1"):
                pass

        with pytest.raises(ServiceError, match="too many calls"):
            await asyncio.create_task(another_rpc(), context=contextvars.Context())
    assert _local(metrics, "comet_provisioning_comet_rpcs_refused_total") == 1


# A CamelCase word in a HELP text is a class name: operators read these, not the code.
_CLASS_NAME = re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b")


async def test_the_scrape_follows_prometheus_naming_conventions(service: Stubs) -> None:
    assert service.server.metrics is not None
    assert service.server.metrics_port
    await service.servers.ListServers(servers_pb2.ListServersRequest(), metadata=bearer("viewer"))
    service.server.metrics.record_usage_sync("s1")
    limiter = ServerCallLimiter(max_waiting=0, capacity=1)
    service.server.metrics.watch_limiter(limiter)

    def get() -> str:
        url = f"http://127.0.0.1:{service.server.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            return str(reply.read().decode())

    families = list(text_string_to_metric_families(await asyncio.to_thread(get)))
    by_name = {family.name: family for family in families}
    names = {sample.name for family in families for sample in family.samples}
    assert not [name for name in names if name.endswith("_created")]
    for family in families:
        if family.type == "counter":
            assert all(sample.name.endswith("_total") for sample in family.samples), family.name
        else:
            assert not family.name.endswith("_total"), f"{family.name} is a {family.type}"
        assert not _CLASS_NAME.search(family.documentation), (family.name, family.documentation)
    assert by_name["comet_provisioning_comet_rpcs_refused"].type == "counter"
    assert "comet_provisioning_usage_sync_last_timestamp_seconds" in by_name
    assert "comet_provisioning_usage_sync_age_seconds" not in by_name
    assert by_name["grpc_server_handled"].type == "counter"


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:9090", ("127.0.0.1", 9090)),
        (":9090", ("0.0.0.0", 9090)),  # noqa: S104
        ("[::1]:1", ("::1", 1)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen("9090x")
