"""ServerCallLimiter: a few run per server, a bounded number wait in order, the rest are refused at once."""

from __future__ import annotations

import asyncio

import pytest
from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning.core.limits import LaneSnapshot, ServerCallLimiter


async def _hold(
    limiter: ServerCallLimiter, server_id: str, release: asyncio.Event, log: list[str], tag: str
) -> None:
    async with limiter.slot(server_id):
        log.append(tag)
        await release.wait()


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_runs_capacity_queues_max_waiting_and_refuses_the_rest_at_once() -> None:
    limiter = ServerCallLimiter(max_waiting=2, capacity=2)
    release = asyncio.Event()
    entered: list[str] = []
    tasks = [asyncio.create_task(_hold(limiter, "s1", release, entered, f"t{i}")) for i in range(4)]
    await _settle()
    assert entered == ["t0", "t1"]
    assert limiter.snapshot() == {"s1": LaneSnapshot(active=2, waiting=2)}

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ServiceError) as caught:
        async with limiter.slot("s1"):
            pytest.fail("admitted past the bound")
    assert loop.time() - started < 1.0  # refused at once, not after waiting for a slot
    err = caught.value
    assert err.kind is ErrorKind.RESOURCE_EXHAUSTED
    assert err.reason == "COMET_SERVER_BUSY"
    assert err.metadata == {"server_id": "s1", "max_waiting": "2"}
    assert limiter.refused == 1

    release.set()
    await asyncio.gather(*tasks)
    assert entered == ["t0", "t1", "t2", "t3"]  # waiters admitted in arrival order
    assert limiter.snapshot() == {}


async def test_servers_are_independent() -> None:
    limiter = ServerCallLimiter(max_waiting=0, capacity=1)
    release = asyncio.Event()
    entered: list[str] = []
    first = asyncio.create_task(_hold(limiter, "a", release, entered, "a"))
    await _settle()
    async with limiter.slot("b"):
        entered.append("b")
    with pytest.raises(ServiceError):
        async with limiter.slot("a"):
            pass
    release.set()
    await first
    assert entered == ["a", "b"]


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    limiter = ServerCallLimiter(max_waiting=1, capacity=1)
    release = asyncio.Event()
    entered: list[str] = []
    holder = asyncio.create_task(_hold(limiter, "s", release, entered, "holder"))
    await _settle()
    waiter = asyncio.create_task(_hold(limiter, "s", release, entered, "waiter"))
    await _settle()
    assert limiter.snapshot()["s"] == LaneSnapshot(1, 1)
    waiter.cancel()
    await _settle()
    assert limiter.snapshot()["s"] == LaneSnapshot(1, 0)
    late = asyncio.create_task(_hold(limiter, "s", release, entered, "late"))  # the place is free again
    await _settle()
    release.set()
    await asyncio.gather(holder, late)
    assert entered == ["holder", "late"]
    assert limiter.snapshot() == {}


async def test_a_slot_handed_to_a_waiter_cancelled_at_that_moment_is_passed_on() -> None:
    limiter = ServerCallLimiter(max_waiting=2, capacity=1)
    await limiter._acquire("s")  # the holder
    doomed = asyncio.create_task(limiter._acquire("s"))
    await _settle()
    last = asyncio.create_task(limiter._acquire("s"))
    await _settle()
    assert limiter.snapshot()["s"] == LaneSnapshot(1, 2)
    limiter._release("s")  # hands the slot to `doomed` (its future is resolved)...
    doomed.cancel()  # ...which is cancelled before it runs: the slot must go on to `last`
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await asyncio.wait_for(last, 1)
    assert limiter.snapshot()["s"] == LaneSnapshot(1, 0)
    limiter._release("s")
    assert limiter.snapshot() == {}


async def test_nested_slots_for_the_same_server_do_not_deadlock() -> None:
    limiter = ServerCallLimiter(max_waiting=0, capacity=1)
    async with limiter.slot("s"), limiter.slot("s"):
        assert limiter.snapshot()["s"] == LaneSnapshot(1, 0)
    assert limiter.snapshot() == {}


async def test_capacity_may_depend_on_the_server() -> None:
    limiter = ServerCallLimiter(max_waiting=0, capacity=lambda server_id: 3 if server_id == "big" else 1)
    release = asyncio.Event()
    entered: list[str] = []
    tasks = [asyncio.create_task(_hold(limiter, "big", release, entered, str(i))) for i in range(3)]
    await _settle()
    assert len(entered) == 3
    with pytest.raises(ServiceError):
        async with limiter.slot("big"):
            pass
    release.set()
    await asyncio.gather(*tasks)


async def test_an_error_inside_the_slot_releases_it() -> None:
    limiter = ServerCallLimiter(max_waiting=0, capacity=1)
    with pytest.raises(RuntimeError):
        async with limiter.slot("s"):
            raise RuntimeError("comet said no")
    async with limiter.slot("s"):
        pass


def test_negative_waiting_is_rejected() -> None:
    with pytest.raises(ValueError, match="max_waiting"):
        ServerCallLimiter(max_waiting=-1)
