"""Whether each Comet server is reachable, as this process has seen it: a circuit breaker per server.

Fed by every Comet call the pooled clients make (it is a `CallObserver`), so it costs no call of
its own while servers answer. A server is DOWN after `failure_threshold` consecutive transient
failures (nothing answered, a timeout, a broken connection, a proxy's 5xx page); placement then
prefers the other servers of its group. Once `cooldown_s` has passed, the next look at the server
(placement, GetServer) starts one background probe (`meta/version`): the server is PROBING while it
runs, UP when it answers, DOWN again for another cooldown when it does not. Any Comet answer (even
a refusal such as "user not found") proves the server reachable and closes the breaker at once.

The state is per process and is lost on restart (UNSPECIFIED until the next call): it steers
placement, it never refuses a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from comet_provisioning.comet.observe import CallObserver, CallRecord

__all__ = ["Health", "HealthBoard", "ObserverFanOut", "call_verdict"]

log = logging.getLogger("comet_provisioning.servers")

DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_COOLDOWN_S = 10.0

_TRANSIENT_HTTP = frozenset({500, 502, 503, 504})
# Outcomes that prove nothing either way: the call never left, or the fault is not the server's.
_NEUTRAL = frozenset({"cancelled", "client_closed", "error", "tls_error"})
# Failures that say the server cannot be reached or is not answering properly right now.
_UNREACHABLE = frozenset({"unreachable", "timeout", "connection_lost"})


class Health(enum.StrEnum):
    UNSPECIFIED = "UNSPECIFIED"  # no call seen since this process started
    UP = "UP"
    DOWN = "DOWN"
    PROBING = "PROBING"


def call_verdict(outcome: str, http_status: int | None) -> bool | None:
    """True: the server answered; False: a transient failure of the server; None: neither."""
    if outcome in _NEUTRAL:
        return None
    if outcome in _UNREACHABLE:
        return False
    if outcome == "not_comet_server":
        # A proxy's 502 page is the server being away; a web page with 200 is a wrong address.
        return False if http_status in _TRANSIENT_HTTP else None
    return True  # "ok", or Comet itself refusing (user not found, auth failed, ...): it answered


@dataclass(frozen=True, slots=True)
class _State:
    health: Health = Health.UNSPECIFIED
    failures: int = 0  # consecutive transient failures
    opened_at: float = 0.0  # when it last went DOWN (monotonic)


Probe = Callable[[str], Awaitable[None]]


class HealthBoard:
    """The breaker of every server. Lives on the event loop's thread; `snapshot` may be read from
    another thread (metrics scrapes): states are immutable and replaced whole."""

    def __init__(
        self,
        *,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cooldown_s < 0:
            raise ValueError("cooldown_s must not be negative")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._probe: Probe | None = None
        self._probes: dict[str, asyncio.Task[None]] = {}

    def set_probe(self, probe: Probe) -> None:
        """How to probe a DOWN server once its cooldown passed (one Comet call, any outcome)."""
        self._probe = probe

    # -- fed by the Comet clients -----------------------------------------------------------------

    def on_call(self, record: CallRecord) -> None:
        verdict = call_verdict(record.outcome, record.http_status)
        if verdict is True:
            self.succeeded(record.server_id)
        elif verdict is False:
            self.failed(record.server_id)

    def succeeded(self, server_id: str) -> None:
        state = self._states.get(server_id)
        if state is not None and state.health is Health.UP and not state.failures:
            return  # the hot path: nothing to change
        if state is not None and state.health in (Health.DOWN, Health.PROBING):
            log.info("comet server is reachable again", extra={"server_id": server_id})
        self._states[server_id] = _State(Health.UP)

    def failed(self, server_id: str) -> None:
        state = self._states.get(server_id) or _State()
        failures = state.failures + 1
        if state.health is Health.PROBING or (
            state.health is not Health.DOWN and failures >= self.failure_threshold
        ):
            if state.health is not Health.PROBING:
                log.warning(
                    "comet server marked down: new accounts go to other servers of its group",
                    extra={"server_id": server_id, "failures": failures},
                )
            self._states[server_id] = _State(Health.DOWN, failures, self._clock())
        elif state.health is Health.DOWN:
            self._states[server_id] = _State(Health.DOWN, failures, state.opened_at)
        else:
            self._states[server_id] = _State(state.health, failures)

    def mark_down(self, server_id: str) -> None:
        """Known unreachable (e.g. registered offline on purpose): down now, probed after the cooldown."""
        state = self._states.get(server_id) or _State()
        self._states[server_id] = _State(
            Health.DOWN, max(state.failures, self.failure_threshold), self._clock()
        )

    def forget(self, server_id: str) -> None:
        """A deleted server, or new connection details: nothing known about it any more."""
        self._states.pop(server_id, None)
        task = self._probes.pop(server_id, None)
        if task is not None:
            task.cancel()

    # -- read -------------------------------------------------------------------------------------

    def health(self, server_id: str) -> Health:
        """The server's state; a DOWN server whose cooldown passed starts its probe (PROBING)."""
        state = self._states.get(server_id)
        if state is None:
            return Health.UNSPECIFIED
        if state.health is Health.DOWN and self._clock() - state.opened_at >= self.cooldown_s:
            return self._start_probe(server_id, state)
        return state.health

    def is_down(self, server_id: str) -> bool:
        """Placement's question: known unreachable (DOWN, or PROBING until the probe says)."""
        return self.health(server_id) in (Health.DOWN, Health.PROBING)

    def snapshot(self) -> dict[str, Health]:
        """Every known server's state, without starting probes (safe from another thread)."""
        states = dict(self._states)  # one C-level copy: safe against the loop thread's writes
        return {server_id: state.health for server_id, state in states.items()}

    # -- probes -----------------------------------------------------------------------------------

    def _start_probe(self, server_id: str, state: _State) -> Health:
        if self._probe is None or server_id in self._probes:
            return state.health
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return state.health
        self._states[server_id] = _State(Health.PROBING, state.failures, state.opened_at)
        task = loop.create_task(self._run_probe(server_id, self._probe), name=f"probe-{server_id}")
        self._probes[server_id] = task
        return Health.PROBING

    async def _run_probe(self, server_id: str, probe: Probe) -> None:
        try:
            await probe(server_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the probe's verdict comes from the call it made, if any
            log.debug("probe of comet server failed", extra={"server_id": server_id, "error": repr(exc)})
        finally:
            if self._probes.get(server_id) is asyncio.current_task():
                del self._probes[server_id]
            state = self._states.get(server_id)
            if state is not None and state.health is Health.PROBING:
                # No call told (the server was deleted, the client closed): wait another cooldown.
                self._states[server_id] = _State(Health.DOWN, state.failures, self._clock())

    async def aclose(self) -> None:
        """Cancel running probes (at shutdown)."""
        tasks = list(self._probes.values())
        self._probes.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


class ObserverFanOut:
    """Hands every call record to several observers (metrics and the health board)."""

    def __init__(self, observers: Iterable[CallObserver | None]) -> None:
        self._observers = tuple(o for o in observers if o is not None)

    def on_call(self, record: CallRecord) -> None:
        for observer in self._observers:
            try:
                observer.on_call(record)
            except Exception:  # the observer contract: never break a Comet call
                log.exception("comet call observer failed")
