"""A burst of concurrent orders: no duplicate, no orphan, one policy group per product per server."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import World

ORDERS = 400
REPEATS = 100


async def test_500_concurrent_creates_with_repeats_and_colliding_usernames(world: World) -> None:
    rng = random.Random(7)
    requests = []
    for i in range(ORDERS):
        # Half of the orders ask for one of three usernames; a quarter share one e-mail address.
        username = rng.choice(["shared", "popular.name", "x"]) if i % 2 == 0 else ""
        email = "same@example.com" if i % 4 == 1 else f"customer{i}@example.com"
        requests.append(
            accounts_pb2.CreateAccountRequest(
                request_id=f"order-{i}",
                product_id=world.product_id,
                customer=accounts_pb2.Customer(email=email, reference=f"svc-{i}"),
                options={"number_of_devices": 1 + i % 10},
                username=username,
            )
        )
    calls = requests + [requests[rng.randrange(ORDERS)] for _ in range(REPEATS)]
    rng.shuffle(calls)
    responses = await asyncio.gather(*(world.stubs.accounts.CreateAccount(r, timeout=120) for r in calls))

    by_request: dict[str, set[str]] = {}
    for request, response in zip(calls, responses, strict=True):
        assert response.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
        by_request.setdefault(request.request_id, set()).add(response.account.id)
    assert all(len(ids) == 1 for ids in by_request.values()), "a repeated request_id made a second account"
    assert len(by_request) == ORDERS

    listed = []
    token = ""
    while True:
        page = await world.stubs.accounts.ListAccounts(
            accounts_pb2.ListAccountsRequest(page_size=1000, page_token=token)
        )
        listed.extend(page.accounts)
        token = page.next_page_token
        if not token:
            break
    assert len(listed) == ORDERS
    usernames = [a.username for a in listed]
    assert len(set(usernames)) == ORDERS, "two accounts share a Comet username"

    sim = world.sim
    assert set(sim.state.users) == set(usernames), "Comet users and accounts differ (orphan or missing)"
    add_user_calls = Counter({name: sim.counters.calls_for("add-user", name) for name in usernames})
    assert set(add_user_calls.values()) == {1}, "some account got more than one add-user"
    vault_calls = {name: sim.counters.calls_for("request-storage-vault", name) for name in usernames}
    assert set(vault_calls.values()) == {1}
    assert all(len(sim.state.users[name].profile["Destinations"]) == 1 for name in usernames)
    managed = [pid for pid in sim.state.policies if pid.startswith("comet-provisioning-")]
    assert managed == [f"comet-provisioning-{world.product_id}"]
    assert sim.counters.calls["policies/set"] == 1
    for account in listed:
        assert (
            sim.state.users[account.username].profile["MaximumDevices"]
            == account.options["number_of_devices"]
        )
