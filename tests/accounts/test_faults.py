"""Comet misbehaving while orders arrive: callers retry with the same request_id, and in the end
every account is ACTIVE and correct, with no duplicate Comet user, vault or orphan."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import World

ORDERS = 60
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}


async def create_until_done(
    world: World, request: accounts_pb2.CreateAccountRequest, seen: Counter[str]
) -> str:
    for _ in range(40):
        try:
            response = await world.stubs.accounts.CreateAccount(request, timeout=1.5)
        except grpc.aio.AioRpcError as err:
            assert err.code() in RETRYABLE, (err.code(), err.details())
            seen[err.code().name] += 1
            await asyncio.sleep(0.05)
            continue
        assert response.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
        return response.account.id
    raise AssertionError(f"{request.request_id} never converged")


async def test_faults_during_creation_converge_without_duplicates_or_orphans(world: World) -> None:
    faults = world.sim.faults
    faults.add("add-user", "reset", rate=0.15, after_commit=True)  # created, reply lost
    faults.add("add-user", "http502", rate=0.15, after_commit=True)  # created, proxy error page
    faults.add("add-user", "http502", rate=0.1)  # refused before anything happened
    faults.add("add-user", "hang", count=3, after_commit=True, hang_s=2.5)  # created, no answer in time
    faults.add("request-storage-vault", "http502", rate=0.25, after_commit=True)
    faults.add("set-user-profile-hash", "http500", rate=0.2)
    faults.add("get-user-profile", "reset", rate=0.1)

    seen: Counter[str] = Counter()
    requests = [
        accounts_pb2.CreateAccountRequest(
            request_id=f"faulty-{i}",
            product_id=world.product_id,
            customer=accounts_pb2.Customer(email=f"c{i}@example.com"),
            options={"number_of_devices": 4},
        )
        for i in range(ORDERS)
    ]
    ids = await asyncio.gather(*(create_until_done(world, r, seen) for r in requests))
    assert len(set(ids)) == ORDERS
    assert sum(world.sim.counters.faults.values()) > 20, "the faults did not fire"
    assert sum(seen.values()) > 10, "callers never saw a failure"

    faults.clear()
    accounts = (
        await world.stubs.accounts.ListAccounts(accounts_pb2.ListAccountsRequest(page_size=1000))
    ).accounts
    assert len(accounts) == ORDERS
    assert {a.status for a in accounts} == {accounts_pb2.ACCOUNT_STATUS_ACTIVE}
    names = {a.username for a in accounts}
    sim = world.sim
    assert set(sim.state.users) == names, "orphan Comet users or missing ones"
    for name in names:
        assert sim.counters.commits_for("add-user", name) == 1, name
        assert sim.counters.commits_for("request-storage-vault", name) == 1, name
        profile = sim.state.users[name].profile
        assert len(profile["Destinations"]) == 1
        assert profile["MaximumDevices"] == 4
        assert profile["PolicyID"] == f"comet-provisioning-{world.product_id}"
