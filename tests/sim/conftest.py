"""Fixtures: a simulator on a loopback port and a small form-posting client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from comet_provisioning.sim import CometSimulator

from .support import Api, make_sim


@pytest.fixture
def sim_kwargs() -> dict[str, Any]:
    """Override in a module (or parametrize) to start the simulator differently."""
    return {}


@pytest.fixture
async def sim(sim_kwargs: dict[str, Any]) -> AsyncIterator[CometSimulator]:
    simulator = make_sim(**sim_kwargs)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def api(sim: CometSimulator, session: aiohttp.ClientSession) -> Api:
    return Api(sim, session)
