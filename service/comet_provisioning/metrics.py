"""Prometheus metrics that are not about gRPC: Comet calls, accounts, usage syncs, waiting RPCs.

Everything lives in one `CollectorRegistry` per `ServiceMetrics` (never the global default), so tests
and several services in one process do not share counters. The gRPC server metrics are in
`api/metrics.py` and register into the same registry.

Wiring (see app.py): pass `metrics.comet` as the `observer=` of `CometClientRegistry`; start
`metrics.watch_accounts(store.count_by_status)`; call `metrics.record_usage_sync(server_id, when)`
after each usage sync; `metrics.watch_limiter(limiter)`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from comet_provisioning.comet.observe import CallRecord
from comet_provisioning.core.limits import ServerCallLimiter

log = logging.getLogger("comet_provisioning.metrics")

__all__ = ["CometCallMetrics", "ServiceMetrics", "parse_listen"]

NAMESPACE = "comet_provisioning"

# Comet calls range from a few milliseconds (meta) to tens of seconds (a slow server near timeout).
_COMET_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

CountByStatus = Callable[[], Awaitable[Mapping[str, int]]]


class CometCallMetrics:
    """A `CallObserver` for `CometClientRegistry`: per server and endpoint, calls and timings.

    `on_call` is cheap and never raises, as the observer contract requires.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "comet_calls",
            "HTTP attempts against Comet Servers, by outcome (ok or the error kind).",
            ["server_id", "endpoint", "outcome"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.latency = Histogram(
            "comet_call_duration_seconds",
            "Duration of one HTTP attempt against a Comet Server, pool wait included.",
            ["server_id", "endpoint"],
            namespace=NAMESPACE,
            buckets=_COMET_BUCKETS,
            registry=registry,
        )
        self.pool_wait = Histogram(
            "comet_pool_wait_seconds",
            "Time an attempt waited for a connection to the Comet Server: a free pooled one or a new one.",
            ["server_id", "endpoint"],
            namespace=NAMESPACE,
            buckets=_WAIT_BUCKETS,
            registry=registry,
        )
        self._timings: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._counters: dict[tuple[str, str, str], Any] = {}

    def on_call(self, record: CallRecord) -> None:
        try:
            # Children kept by label values: labels() takes a lock and builds a key on every call.
            key = (record.server_id, record.endpoint)
            timings = self._timings.get(key)
            if timings is None:
                timings = self._timings[key] = (self.latency.labels(*key), self.pool_wait.labels(*key))
            counted = (record.server_id, record.endpoint, record.outcome)
            counter = self._counters.get(counted)
            if counter is None:
                counter = self._counters[counted] = self.calls.labels(*counted)
            counter.inc()
            timings[0].observe(record.duration_s)
            timings[1].observe(record.pool_wait_s)
        except Exception:  # pragma: no cover - a metrics bug must not break a Comet call
            log.exception("recording a comet call failed")


class _Callback(Collector):
    """A collector whose samples come from a function, evaluated at scrape time."""

    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        try:
            return list(self._collect())
        except Exception:
            log.exception("metrics callback failed")
            return []


class ServiceMetrics:
    """The service's registry and its non-gRPC metrics."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # No `<counter>_created` series: they double the series count and no dashboard reads them.
        # prometheus_client has only this process-wide switch for them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.comet = CometCallMetrics(self.registry)
        self.accounts = Gauge(
            "accounts",
            "Accounts in the store by status (refreshed periodically).",
            ["status"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self._accounts_seen: set[str] = set()
        self.account_limits = Gauge(
            "account_limits",
            "Live accounts by whether the product's limits are in force on their Comet user: APPLIED,"
            " PENDING (provisioning running or retrying; alert when it lasts), SUSPENDED (the limits"
            " could not be applied, so the user is suspended), NO_USER (no Comet user).",
            ["state"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self._limits_seen: set[str] = set()
        self._usage_syncs: dict[str, float] = {}
        self._usage_lock = threading.Lock()
        self._limiters: list[ServerCallLimiter] = []
        self.registry.register(_Callback(self._usage_sync_last))
        self.registry.register(_Callback(self._limiter_lanes))

    # -- usage sync -------------------------------------------------------------------------------

    def record_usage_sync(self, server_id: str, when: datetime | float | None = None) -> None:
        """Notes a finished usage sync of a server (`when`: aware datetime or epoch seconds; now)."""
        stamp = (
            time.time() if when is None else when.timestamp() if isinstance(when, datetime) else float(when)
        )
        with self._usage_lock:
            self._usage_syncs[server_id] = stamp

    def forget_server(self, server_id: str) -> None:
        with self._usage_lock:
            self._usage_syncs.pop(server_id, None)

    def _usage_sync_last(self) -> Iterable[Metric]:
        # The time of the last sync, not its age: `time() - this` gives the age in a query, and a
        # timestamp stays true between scrapes.
        last = GaugeMetricFamily(
            f"{NAMESPACE}_usage_sync_last_timestamp_seconds",
            "Unix time of the last finished usage sync of each Comet Server.",
            labels=["server_id"],
        )
        with self._usage_lock:
            syncs = sorted(self._usage_syncs.items())
        for server_id, stamp in syncs:
            last.add_metric([server_id], stamp)
        return [last]

    # -- accounts by status ------------------------------------------------------------------------

    async def refresh_accounts(
        self, count_by_status: CountByStatus, count_by_limits: CountByStatus | None = None
    ) -> None:
        """Sets the account gauges from the store; labels that disappeared drop to 0."""
        self._accounts_seen = _set_counts(self.accounts, dict(await count_by_status()), self._accounts_seen)
        if count_by_limits is not None:
            self._limits_seen = _set_counts(
                self.account_limits, dict(await count_by_limits()), self._limits_seen
            )

    def watch_accounts(
        self,
        count_by_status: CountByStatus,
        interval_s: float = 30.0,
        *,
        count_by_limits: CountByStatus | None = None,
    ) -> asyncio.Task[None]:
        """Refreshes the account gauges now and every `interval_s` until the task is cancelled."""

        async def loop() -> None:
            while True:
                try:
                    await self.refresh_accounts(count_by_status, count_by_limits)
                except Exception:
                    log.exception("refreshing the accounts gauge failed")
                await asyncio.sleep(interval_s)

        return asyncio.get_running_loop().create_task(loop(), name="metrics-accounts")

    # -- per-server call limiter -----------------------------------------------------------------

    def watch_limiter(self, limiter: ServerCallLimiter) -> None:
        self._limiters.append(limiter)

    def _limiter_lanes(self) -> Iterable[Metric]:
        if not self._limiters:
            return []
        active = GaugeMetricFamily(
            f"{NAMESPACE}_comet_rpcs_active",
            "RPCs doing Comet work on each server.",
            labels=["server_id"],
        )
        waiting = GaugeMetricFamily(
            f"{NAMESPACE}_comet_rpcs_waiting",
            "RPCs waiting for their turn on each server.",
            labels=["server_id"],
        )
        refused = CounterMetricFamily(
            f"{NAMESPACE}_comet_rpcs_refused",
            "RPCs refused with COMET_SERVER_BUSY because a server had too many calls waiting.",
        )
        total = 0
        for limiter in self._limiters:
            for server_id, lane in sorted(limiter.snapshot().items()):
                active.add_metric([server_id], lane.active)
                waiting.add_metric([server_id], lane.waiting)
            total += limiter.refused
        refused.add_metric([], total)
        return [active, waiting, refused]


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - ":9090" means all interfaces


def _set_counts(gauge: Gauge, counts: dict[str, int], seen: set[str]) -> set[str]:
    for label in seen - counts.keys():
        gauge.labels(label).set(0)
    for label, count in counts.items():
        gauge.labels(label).set(count)
    return seen | counts.keys()
