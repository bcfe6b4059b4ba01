"""A generated password must reach the caller at least once, whoever finishes the order.

Found by the hostile load with short deadlines (tests/reliability/profile_load.py --profile hostile
--accounts 300 --sim-latency-ms 100 --timeout 0.5 --retries 20): 3 of 300 orders were acknowledged
ACTIVE, on a later retry with the same request_id, with an empty `generated_password`. Their journal
shows the caller's run resuming the order, `apply_quotas` finishing at ~499 ms and `activate`
SUCCEEDED, while that RPC ended DEADLINE_EXCEEDED (501 ms): the activating run used to erase the
sealed password when it built its reply, so a reply that never reached the caller took the only copy
with it. A crash did the same (a SIGKILL between the activation's commit and the reply). Now the
password stays sealed for a retention after the activation, and every retry within it gets it.

The test pins that timing: the caller's deadline passes right after the activation's commit (a
stall injected there, as the load met it by chance), then the caller retries with the same
request_id, as a billing system does after DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import pytest
from comet_provisioning.core.accounts.provisioner import Provisioner
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import accounts_pb2

from tests.accounts.conftest import make_world
from tests.fixtures.db import service_settings

CALL_DEADLINE_S = 2.0


async def test_a_generated_password_survives_a_reply_lost_after_activation(
    comet_sim: CometSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = service_settings(f"sqlite+aiosqlite:///{tmp_path / 'store.sqlite3'}", tmp_path / "data")
    async with make_world(comet_sim, settings) as world:
        activate = Provisioner._activate

        async def activate_then_stall(self: Provisioner, *args: Any, **kwargs: Any) -> Any:
            result = await activate(self, *args, **kwargs)
            await asyncio.sleep(CALL_DEADLINE_S * 2)  # the deadline passes before the reply goes out
            return result

        monkeypatch.setattr(Provisioner, "_activate", activate_then_stall)
        order = accounts_pb2.CreateAccountRequest(
            request_id="order-lost-reply",
            product_id=world.product_id,
            customer=accounts_pb2.Customer(email="carol@example.com", reference="svc-lost-reply"),
            options={"number_of_devices": 3},
        )
        with pytest.raises(grpc.aio.AioRpcError) as lost:
            await world.stubs.accounts.CreateAccount(order, timeout=CALL_DEADLINE_S)
        assert lost.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        monkeypatch.undo()

        retried = await world.stubs.accounts.CreateAccount(order, timeout=30)
        assert retried.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
        user = world.sim.state.users[retried.account.username]
        assert comet_sim.counters.committed["add-user"] == 1
        assert retried.generated_password, "no reply ever carried the generated password"
        assert retried.generated_password == user.password
