"""The per-server circuit breaker, on its own: what opens it, what a probe does, what it ignores;
and the health gauge that shows it."""

from __future__ import annotations

import asyncio

from comet_provisioning.comet.observe import CallRecord
from comet_provisioning.core.accounts.placement import Candidate, rank, why_none
from comet_provisioning.core.server_health import Health, HealthBoard, ObserverFanOut, call_verdict
from comet_provisioning.health_metrics import ServerHealthCollector
from prometheus_client import CollectorRegistry, generate_latest


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(server_id: str, outcome: str, http_status: int | None = None) -> CallRecord:
    return CallRecord(server_id, "add-user", 0.01, 0.0, outcome, http_status, None)


def test_what_counts_as_a_failure_a_success_or_neither() -> None:
    assert call_verdict("unreachable", None) is False
    assert call_verdict("timeout", None) is False
    assert call_verdict("connection_lost", None) is False
    assert call_verdict("not_comet_server", 502) is False  # a proxy's error page
    assert call_verdict("not_comet_server", 200) is None  # a web site: a wrong address, not an outage
    assert call_verdict("ok", 200) is True
    assert call_verdict("user_not_found", 200) is True  # Comet answered
    assert call_verdict("auth_failed", 200) is True
    assert call_verdict("api_error", 500) is True  # a JSON refusal: Comet is there
    for neutral in ("cancelled", "client_closed", "tls_error"):
        assert call_verdict(neutral, None) is None


def test_consecutive_transient_failures_open_the_breaker_and_a_success_closes_it() -> None:
    clock = Clock()
    board = HealthBoard(failure_threshold=3, cooldown_s=10, clock=clock)
    assert board.health("a") is Health.UNSPECIFIED
    board.on_call(record("a", "unreachable"))
    board.on_call(record("a", "timeout"))
    board.on_call(record("a", "ok", 200))  # not consecutive any more
    board.on_call(record("a", "unreachable"))
    board.on_call(record("a", "unreachable"))
    assert board.health("a") is Health.UP
    assert not board.is_down("a")
    board.on_call(record("a", "not_comet_server", 503))
    assert board.health("a") is Health.DOWN
    assert board.is_down("a")
    board.on_call(record("b", "unreachable"))
    assert board.health("b") is Health.UNSPECIFIED  # one failure of another server
    board.on_call(record("a", "user_exists", 200))  # any Comet answer
    assert board.health("a") is Health.UP
    assert board.snapshot() == {"a": Health.UP, "b": Health.UNSPECIFIED}


async def test_after_the_cooldown_one_probe_runs_and_decides() -> None:
    clock = Clock()
    board = HealthBoard(failure_threshold=1, cooldown_s=10, clock=clock)
    probes: list[str] = []
    answer = asyncio.Event()
    reachable = False

    async def probe(server_id: str) -> None:
        probes.append(server_id)
        await answer.wait()
        if reachable:
            board.succeeded(server_id)
        else:
            board.failed(server_id)

    board.set_probe(probe)
    board.failed("a")
    assert board.health("a") is Health.DOWN
    clock.now += 9
    assert board.health("a") is Health.DOWN
    assert probes == []
    clock.now += 1
    assert board.health("a") is Health.PROBING
    assert board.is_down("a")  # placement still avoids it while the probe runs
    await asyncio.sleep(0)
    assert board.health("a") is Health.PROBING
    assert probes == ["a"]  # one probe, however often it is looked at
    answer.set()
    await asyncio.sleep(0.01)
    assert board.health("a") is Health.DOWN  # the probe failed: another cooldown
    clock.now += 10
    answer.clear()
    reachable = True
    assert board.health("a") is Health.PROBING
    answer.set()
    await asyncio.sleep(0.01)
    assert board.health("a") is Health.UP
    assert probes == ["a", "a"]
    await board.aclose()


async def test_a_probe_that_tells_nothing_waits_another_cooldown() -> None:
    clock = Clock()
    board = HealthBoard(failure_threshold=1, cooldown_s=5, clock=clock)

    async def probe(server_id: str) -> None:
        raise LookupError("the server was deleted meanwhile")

    board.set_probe(probe)
    board.mark_down("a")
    clock.now += 5
    assert board.health("a") is Health.PROBING
    await asyncio.sleep(0.01)
    assert board.health("a") is Health.DOWN
    board.forget("a")
    assert board.health("a") is Health.UNSPECIFIED
    await board.aclose()


def test_the_fan_out_survives_a_failing_observer() -> None:
    class Broken:
        def on_call(self, record: CallRecord) -> None:
            raise RuntimeError("metrics bug")

    board = HealthBoard(failure_threshold=1)
    ObserverFanOut([Broken(), None, board]).on_call(record("a", "unreachable"))
    assert board.health("a") is Health.DOWN


def test_the_gauge_shows_each_known_server_in_one_state() -> None:
    board = HealthBoard(failure_threshold=1)
    board.succeeded("up-server")
    board.failed("down-server")
    board.on_call(record("unknown-server", "cancelled"))
    registry = CollectorRegistry()
    registry.register(ServerHealthCollector(board.snapshot))
    text = generate_latest(registry).decode()
    assert 'comet_provisioning_comet_server_health{server_id="up-server",state="up"} 1.0' in text
    assert 'comet_provisioning_comet_server_health{server_id="up-server",state="down"} 0.0' in text
    assert 'comet_provisioning_comet_server_health{server_id="down-server",state="down"} 1.0' in text
    assert 'comet_provisioning_comet_server_health{server_id="down-server",state="probing"} 0.0' in text
    assert "unknown-server" not in text


def test_least_accounts_counts_accounts_and_uses_limits_only_as_caps() -> None:
    # A limit of 1,000 with 29 accounts against unlimited servers with 38: the fewest accounts win.
    limited = Candidate("limited", 29, 1000, 3)
    unlimited = [Candidate("u1", 38, 0, 1), Candidate("u2", 38, 0, 2)]
    assert [c.server_id for c in rank([*unlimited, limited], "LEAST_ACCOUNTS")] == ["limited", "u1", "u2"]
    full = Candidate("full", 5, 5, 0)
    draining = Candidate("draining", 0, 0, 0, draining=True)
    down = Candidate("down", 0, 0, 0, down=True)
    ranked = rank([full, draining, down, *unlimited], "LEAST_ACCOUNTS")
    assert [c.server_id for c in ranked] == ["u1", "u2", "down"]  # down: only after every other
    assert [c.server_id for c in rank([down, *unlimited], "FILL_IN_ORDER")] == ["u1", "u2", "down"]
    assert rank([full, draining], "LEAST_ACCOUNTS") == []
    assert why_none([full, draining]) == "1 full, 1 draining"
    assert why_none([Candidate("x", 0, 0, 0)], tried={"x"}) == "1 unreachable"
    assert why_none([]) == "the group has no servers"
