"""The service as processes: killed mid-batch and restarted, and two replicas on one PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc
import pytest
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import (
    accounts_pb2,
    accounts_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
    servers_pb2,
    servers_pb2_grpc,
)

from tests.accounts.conftest import Stubs, World, register_sim
from tests.fixtures.db import fresh_postgres_database
from tests.fixtures.service import ServiceProcess, free_port, new_secret_key, service_env


def stubs_for(channel: grpc.aio.Channel) -> Stubs:
    return Stubs(
        None,  # type: ignore[arg-type]
        servers_pb2_grpc.ServerServiceStub(channel),
        catalog_pb2_grpc.CatalogServiceStub(channel),
        accounts_pb2_grpc.AccountServiceStub(channel),
    )


async def setup_world(stubs: Stubs, sim: CometSimulator) -> str:
    group = await stubs.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="g"))
    )
    await register_sim(stubs, sim, group_id=group.server_group.id)
    world = World(stubs, sim, group.server_group.id, "", "")
    return await world.product(
        "P",
        policy_group_mode=catalog_pb2.POLICY_GROUP_MODE_CREATE_NEW,
        storage_provider_id=next(iter(sim.state.providers)),
    )


def order(i: int, product_id: str) -> accounts_pb2.CreateAccountRequest:
    return accounts_pb2.CreateAccountRequest(
        request_id=f"o-{i}",
        product_id=product_id,
        customer=accounts_pb2.Customer(email=f"user{i % 7}@example.com"),  # colliding names
        options={"number_of_devices": 2},
    )


async def create_until_done(
    stub: accounts_pb2_grpc.AccountServiceStub, request: accounts_pb2.CreateAccountRequest
) -> str:
    for _ in range(100):
        try:
            response = await stub.CreateAccount(request, timeout=10)
            return response.account.id
        except grpc.aio.AioRpcError as err:
            assert err.code() in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED}, err
            await asyncio.sleep(0.1)
    raise AssertionError("never converged")


def assert_comet_matches(sim: CometSimulator, accounts: list[accounts_pb2.Account], product_id: str) -> None:
    names = [a.username for a in accounts]
    assert len(set(names)) == len(names), "duplicate usernames"
    assert set(sim.state.users) == set(names), "orphan or missing Comet users"
    for name in names:
        assert sim.counters.commits_for("add-user", name) == 1, name
        assert len(sim.state.users[name].profile["Destinations"]) == 1, name
    managed = [p for p in sim.state.policies if p.startswith("comet-provisioning-")]
    assert managed == [f"comet-provisioning-{product_id}"]


async def list_all(stub: accounts_pb2_grpc.AccountServiceStub) -> list[accounts_pb2.Account]:
    return list((await stub.ListAccounts(accounts_pb2.ListAccountsRequest(page_size=1000))).accounts)


@pytest.mark.slow
async def test_sigkill_mid_batch_then_restart_converges(comet_sim: CometSimulator, tmp_path: Path) -> None:
    comet_sim.faults.latency_ms = 25  # stretch each create so the kill lands mid-batch
    env = service_env(
        tmp_path, COMET_PROVISIONING_RESUME_INTERVAL_S="0.5", COMET_PROVISIONING_ACCOUNT_LEASE_S="2"
    )
    address = f"127.0.0.1:{free_port()}"
    service = ServiceProcess(address, tmp_path, tmp_path / "service.log", env)
    service.start()
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stubs = stubs_for(channel)
            product_id = await setup_world(stubs, comet_sim)
            batch = [
                asyncio.ensure_future(stubs.accounts.CreateAccount(order(i, product_id), timeout=60))
                for i in range(80)
            ]
            while len(comet_sim.state.users) < 20:
                await asyncio.sleep(0.02)
            service.signal(signal.SIGKILL)
            service.wait()
            outcomes = await asyncio.gather(*batch, return_exceptions=True)
        accepted_before = sum(1 for o in outcomes if not isinstance(o, BaseException))
        assert accepted_before < 80, "the kill came too late to test anything"

        service.start()  # same data dir, same database: the start-up sweep resumes the rest
        # A channel of its own: gRPC's shared subchannel pool may still hold the killed process's
        # connection, backing off before it reconnects.
        async with grpc.aio.insecure_channel(
            address, options=[("grpc.use_local_subchannel_pool", 1)]
        ) as channel:
            await asyncio.wait_for(channel.channel_ready(), 30)
            stub = accounts_pb2_grpc.AccountServiceStub(channel)
            for _ in range(200):
                accounts = await list_all(stub)
                if all(a.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE for a in accounts):
                    break
                await asyncio.sleep(0.1)
            recorded = await list_all(stub)
            assert {a.status for a in recorded} == {accounts_pb2.ACCOUNT_STATUS_ACTIVE}, "the sweep left work"
            # The callers now retry everything they sent, with the same request ids.
            ids = await asyncio.gather(*(create_until_done(stub, order(i, product_id)) for i in range(80)))
            assert len(set(ids)) == 80
            accounts = await list_all(stub)
        assert len(accounts) == 80
        assert_comet_matches(comet_sim, accounts, product_id)
    finally:
        service.stop()


@pytest.mark.slow
@pytest.mark.postgres
async def test_two_replicas_on_one_postgres(comet_sim: CometSimulator, tmp_path: Path) -> None:
    async with fresh_postgres_database() as url:
        key = new_secret_key()
        replicas = []
        for n in range(2):
            data = tmp_path / f"r{n}"
            data.mkdir()
            env = service_env(data, COMET_PROVISIONING_DATABASE_URL=url, COMET_PROVISIONING_SECRET_KEY=key)
            replica = ServiceProcess(f"127.0.0.1:{free_port()}", data, data / "service.log", env)
            replica.start()
            replicas.append(replica)
        try:
            async with (
                grpc.aio.insecure_channel(replicas[0].address) as one,
                grpc.aio.insecure_channel(replicas[1].address) as two,
            ):
                first, second = stubs_for(one), stubs_for(two)
                product_id = await setup_world(first, comet_sim)
                # Every order goes to both replicas at once: the same request id, twice.
                calls = []
                for i in range(60):
                    calls.append(create_until_done(first.accounts, order(i, product_id)))
                    calls.append(create_until_done(second.accounts, order(i, product_id)))
                ids = await asyncio.gather(*calls)
                assert all(ids[k] == ids[k + 1] for k in range(0, len(ids), 2)), (
                    "replicas disagree on an order"
                )
                # Concurrent changes to the same accounts from both replicas: no lost update.
                changes = []
                for i, account_id in enumerate(ids[::2][:20]):
                    for stubs, devices in ((first, 3 + i % 4), (second, 9)):
                        changes.append(
                            stubs.accounts.ChangePackage(
                                accounts_pb2.ChangePackageRequest(
                                    id=account_id, options={"number_of_devices": devices}
                                ),
                                timeout=30,
                            )
                        )
                await asyncio.gather(*changes)
                accounts = await list_all(second.accounts)
            assert len(accounts) == 60
            assert_comet_matches(comet_sim, accounts, product_id)
            for account in accounts:
                # Whichever change ran last, Comet and the store agree on it.
                assert (
                    comet_sim.state.users[account.username].profile["MaximumDevices"]
                    == account.options["number_of_devices"]
                )
        finally:
            for replica in replicas:
                replica.stop()
