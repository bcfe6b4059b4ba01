"""Fixtures for the Comet client tests (HTTP replaced by aioresponses unless a test says otherwise)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from aioresponses import aioresponses
from comet_provisioning.comet import CometClient

from .support import CompatAioresponses, RecordingObserver, make_config


@pytest.fixture
def observer() -> RecordingObserver:
    return RecordingObserver()


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with CompatAioresponses() as m:
        yield m


@pytest.fixture
async def client(observer: RecordingObserver) -> AsyncIterator[CometClient]:
    c = CometClient(make_config(), observer=observer)
    yield c
    await c.aclose()
    await asyncio.sleep(0)
