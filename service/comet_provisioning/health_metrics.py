"""The per-server health gauge: one series per server and state, 1 for the state it is in.

Kept apart from `metrics.py`: it reads the circuit breakers at scrape time (on the metrics thread),
through a snapshot that never starts a probe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from comet_provisioning.core.server_health import Health

__all__ = ["ServerHealthCollector"]

_STATES = (Health.UP, Health.DOWN, Health.PROBING)


class ServerHealthCollector(Collector):
    def __init__(self, snapshot: Callable[[], Mapping[str, Health]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "comet_provisioning_comet_server_health",
            "Whether each Comet Server is reachable, as its circuit breaker says: 1 for its current"
            " state (up, down, probing); servers not called since start-up have no series.",
            labels=["server_id", "state"],
        )
        for server_id, health in sorted(self._snapshot().items()):
            if health is Health.UNSPECIFIED:
                continue
            for state in _STATES:
                family.add_metric([server_id, state.value.lower()], 1.0 if health is state else 0.0)
        return [family]
