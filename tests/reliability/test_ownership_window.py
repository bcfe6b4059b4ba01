"""A Comet user someone else creates after this service's add-user was answered by a proxy's 502 is
still someone else's.

Found while probing the ownership proof (core/accounts/ownership.py) with the faults the hostile
profile injects: the attempt window used to stay at [start, start + the client's time limit for one
call] (35 s) after a proxy's 502, so a user of the same name that another party created in those
35 s (here 3 s later: a customer signing up on the Comet server directly, the old WHMCS module
still running during a migration) was adopted by the caller's retry. The window now closes when the
outcome arrives (plus the 2 s tolerance; only a timeout keeps it open).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from comet_provisioning.comet import CometClient, CometServerConfig
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import make_world
from tests.fixtures.db import service_settings
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD
from tests.reliability.support import ForeignUsers

NAME = "dave@example.com"
# Past the proof's tolerance (CLOCK_TOLERANCE_MS, 2 s) after the 502 arrived.
SIGN_UP_AFTER_S = 3.0


async def test_a_user_made_by_someone_else_after_the_502_is_not_adopted(
    comet_sim: CometSimulator, tmp_path: Path
) -> None:
    settings = service_settings(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}", tmp_path / "data")
    async with make_world(comet_sim, settings) as world:
        comet_sim.faults.add("add-user", "http502", count=1)  # before Comet processed it
        order = accounts_pb2.CreateAccountRequest(
            request_id="order-dave",
            product_id=world.product_id,
            customer=accounts_pb2.Customer(email=NAME, reference="svc-dave"),
            options={"number_of_devices": 3},
        )
        with pytest.raises(grpc.aio.AioRpcError) as lost:
            await world.stubs.accounts.CreateAccount(order, timeout=10)
        assert lost.value.code() is grpc.StatusCode.UNAVAILABLE
        assert NAME not in comet_sim.state.users

        # The customer signs up on the Comet server itself, through its admin API.
        await asyncio.sleep(SIGN_UP_AFTER_S)
        other = CometClient(CometServerConfig("other", comet_sim.base_url or "", SIM_ADMIN, SIM_PASSWORD))
        try:
            await other.add_user(NAME, "Daves-own-password-1")
        finally:
            await other.aclose()
        foreign = ForeignUsers(comet_sim, (NAME,)).remember()

        retried = await world.stubs.accounts.CreateAccount(order, timeout=10)
        assert retried.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
        assert foreign.changes() == []
        assert retried.account.username != NAME
        assert comet_sim.state.users[retried.account.username].password == retried.generated_password
