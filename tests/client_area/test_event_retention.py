"""ListAccountEvents retention: each account keeps its newest `event_retention` events."""

from __future__ import annotations

import asyncio
import time

from comet_provisioning.config import Settings, replace
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import started

from .conftest import World, active


async def _events(world: World, account_id: str) -> list[accounts_pb2.AccountEvent]:
    response = await world.stubs.accounts.ListAccountEvents(
        accounts_pb2.ListAccountEventsRequest(account_id=account_id, page_size=1000), timeout=10
    )
    return list(response.events)


async def test_the_log_is_trimmed_to_the_newest_events(
    world: World, comet_sim: CometSimulator, account_settings: Settings
) -> None:
    a = await active(world)
    b = await active(world, customer=accounts_pb2.Customer(email="b@example.com"))
    for _ in range(3):
        await world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=a.id), timeout=10)
        await world.stubs.accounts.UnsuspendAccount(accounts_pb2.UnsuspendAccountRequest(id=a.id), timeout=10)
    before_a, before_b = await _events(world, a.id), await _events(world, b.id)
    assert len(before_a) > 5
    assert len(before_b) > 5

    # The same database, served again with a retention of 5: the start-up sweep trims.
    async with started(replace(account_settings, event_retention=5)) as stubs:
        world.stubs = stubs
        deadline = time.monotonic() + 10
        while len(await _events(world, a.id)) > 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        after_a, after_b = await _events(world, a.id), await _events(world, b.id)
    assert [e.id for e in after_a] == [e.id for e in before_a[:5]]  # the newest five, newest first
    assert [e.id for e in after_b] == [e.id for e in before_b[:5]]
