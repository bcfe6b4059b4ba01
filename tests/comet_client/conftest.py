"""Fixtures for the Comet client tests: the real client on the simulator in memory (no socket).

``comet`` is the simulator behind the client's transport seam, with replies scripted in front of it
where a test needs what no Comet Server says; ``make_comet`` makes more (another version, say).
Tests of the client's networking use the simulator on loopback instead (``test_real_http``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from comet_provisioning.comet import CometClient
from comet_provisioning.sim import DEFAULT_VERSION

from tests.fakes.memory_comet import MemoryComet

from .support import ADMIN, ADMIN_PASSWORD, RecordingObserver, memory_client

CometFactory = Callable[..., MemoryComet]


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
async def make_comet() -> AsyncIterator[CometFactory]:
    """Simulators in memory, as ``make_comet(version="21.3.0")``; all are stopped at teardown."""
    made: list[MemoryComet] = []

    def factory(version: str = DEFAULT_VERSION, **kwargs: Any) -> MemoryComet:
        kwargs.setdefault("seed", 1)
        comet = MemoryComet(admin_user=ADMIN, admin_password=ADMIN_PASSWORD, version=version, **kwargs)
        made.append(comet)
        return comet

    yield factory
    for comet in made:
        await comet.stop()


@pytest.fixture
def comet(make_comet: CometFactory) -> MemoryComet:
    return make_comet()


@pytest.fixture
async def client(comet: MemoryComet, observer: RecordingObserver) -> AsyncIterator[CometClient]:
    async with memory_client(comet, observer=observer) as c:
        yield c
