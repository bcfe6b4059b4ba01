"""Fixtures for the contract tests: the real client against the simulator over loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from comet_provisioning.comet import CometClient
from comet_provisioning.sim import CometSimulator

from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD

from .support import RecordingObserver, sim_client

SimFactory = Callable[..., Awaitable[CometSimulator]]


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
async def client(comet_sim: CometSimulator, observer: RecordingObserver) -> AsyncIterator[CometClient]:
    c = sim_client(comet_sim, observer)
    yield c
    await c.aclose()
    await asyncio.sleep(0)


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    """Starts extra simulators (e.g. another version); all are stopped at teardown."""
    started: list[CometSimulator] = []

    async def factory(**kwargs: Any) -> CometSimulator:
        kwargs.setdefault("admin_user", SIM_ADMIN)
        kwargs.setdefault("admin_password", SIM_PASSWORD)
        kwargs.setdefault("seed", 4321)
        sim = CometSimulator(**kwargs)
        await sim.start(host="127.0.0.1", port=0)
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        await sim.stop()
