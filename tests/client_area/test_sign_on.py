"""CreateLoginSession: end-user single sign-on for ACTIVE accounts only."""

from __future__ import annotations

import grpc
from comet_provisioning_client.v1 import accounts_pb2

from tests.fixtures.db import expect_error

from .conftest import World, active


async def test_an_active_account_gets_a_session_on_its_server(world: World) -> None:
    a = await active(world)
    response = await world.stubs.accounts.CreateLoginSession(
        accounts_pb2.CreateLoginSessionRequest(id=a.id), timeout=10
    )
    session = world.sim.state.sessions[response.session_key]  # a real session on Comet ...
    assert (session.session_type, session.username) == ("user", a.username)  # ... for this user
    assert response.session_type == session.session_type
    assert response.username == a.username
    assert response.server_url == world.sim.base_url


async def test_suspended_terminated_and_pending_accounts_are_refused(world: World) -> None:
    a = await active(world)
    await world.stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=a.id), timeout=10)
    world.sim.counters.reset()
    error = await expect_error(
        world.stubs.accounts.CreateLoginSession(accounts_pb2.CreateLoginSessionRequest(id=a.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_ACCOUNT_STATUS",
    )
    assert error.metadata["status"] == "SUSPENDED"
    assert world.sim.counters.calls["account/session-start-as-user"] == 0
    assert not world.sim.state.sessions
    await world.stubs.accounts.TerminateAccount(accounts_pb2.TerminateAccountRequest(id=a.id), timeout=10)
    await expect_error(
        world.stubs.accounts.CreateLoginSession(accounts_pb2.CreateLoginSessionRequest(id=a.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_ACCOUNT_STATUS",
    )
    manual = await world.product("Manual", setup_mode=2)
    pending = (await world.create(product_id=manual)).account
    await expect_error(
        world.stubs.accounts.CreateLoginSession(accounts_pb2.CreateLoginSessionRequest(id=pending.id)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await expect_error(
        world.stubs.accounts.CreateLoginSession(accounts_pb2.CreateLoginSessionRequest(id="missing")),
        grpc.StatusCode.NOT_FOUND,
    )
    bad = await expect_error(
        world.stubs.accounts.CreateLoginSession(accounts_pb2.CreateLoginSessionRequest()),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad.fields == ["id"]


async def test_a_comet_outage_is_unavailable(world: World) -> None:
    a = await active(world)
    world.sim.faults.add("account/session-start-as-user", "http502")
    await expect_error(
        world.stubs.accounts.CreateLoginSession(accounts_pb2.CreateLoginSessionRequest(id=a.id), timeout=10),
        grpc.StatusCode.UNAVAILABLE,
    )
