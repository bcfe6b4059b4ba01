"""Fixtures for the contract tests: the real client against the simulator.

``sim`` and ``make_sim`` serve the simulator in memory, through the client's transport seam (its
own application and handlers, no socket): for everything the contract decides. ``comet_sim`` and
``make_loopback_sim`` run it on loopback HTTP: for what only sockets show (the pool, resets, hangs,
streaming, a server going away).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from comet_provisioning.comet import CometClient
from comet_provisioning.sim import CometSimulator

from tests.fakes.memory_comet import MemoryComet
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD

from .support import RecordingObserver, sim_client

MemoryFactory = Callable[..., Awaitable[MemoryComet]]
SimFactory = Callable[..., Awaitable[CometSimulator]]


def _settings(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.setdefault("admin_user", SIM_ADMIN)
    kwargs.setdefault("admin_password", SIM_PASSWORD)
    kwargs.setdefault("seed", 4321)
    return kwargs


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
async def make_sim() -> AsyncIterator[MemoryFactory]:
    """Simulators in memory (e.g. another version); all are stopped at teardown."""
    started: list[MemoryComet] = []

    async def factory(**kwargs: Any) -> MemoryComet:
        sim = MemoryComet(**_settings(kwargs))
        await sim.start()
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        await sim.stop()


@pytest.fixture
async def make_loopback_sim() -> AsyncIterator[SimFactory]:
    """Simulators on loopback HTTP; all are stopped at teardown."""
    started: list[CometSimulator] = []

    async def factory(**kwargs: Any) -> CometSimulator:
        sim = CometSimulator(**_settings(kwargs))
        await sim.start(host="127.0.0.1", port=0)
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        await sim.stop()


@pytest.fixture
async def sim(make_sim: MemoryFactory) -> MemoryComet:
    return await make_sim(seed=1234)


@pytest.fixture
async def client(sim: MemoryComet, observer: RecordingObserver) -> AsyncIterator[CometClient]:
    async with sim_client(sim, observer) as c:
        yield c
