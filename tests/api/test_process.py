"""The service as an operator meets it: a process, grpcurl, health, signals."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
from pathlib import Path

import aiohttp
import grpc
import pytest
from comet_provisioning_client.v1 import accounts_pb2, accounts_pb2_grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from tests.fixtures.service import ServiceProcess, grpcurl

SERVICES = {
    "comet.provisioning.v1.ServerService",
    "comet.provisioning.v1.CatalogService",
    "comet.provisioning.v1.AccountService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
}


def test_reflection_lists_every_service_and_health_is_serving(service_process: ServiceProcess) -> None:
    service_process.start()
    listed = set(grpcurl(service_process.address, "list").stdout.split())
    assert listed >= SERVICES
    described = grpcurl(service_process.address, "describe comet.provisioning.v1.AccountService").stdout
    assert "rpc CreateAccount ( .comet.provisioning.v1.CreateAccountRequest )" in described
    assert "rpc DownloadClient ( .comet.provisioning.v1.DownloadClientRequest ) returns ( stream" in described
    for name in ("", *sorted(s for s in SERVICES if s.startswith("comet."))):
        reply = json.loads(
            grpcurl(service_process.address, "grpc.health.v1.Health/Check", {"service": name}).stdout
        )
        assert reply == {"status": "SERVING"}


def test_sigint_stops_cleanly_with_exit_code_zero(service_process: ServiceProcess) -> None:
    service_process.start()
    service_process.signal(signal.SIGINT)
    assert service_process.wait() == 0
    lines = [json.loads(line) for line in service_process.log_lines() if line.startswith("{")]
    assert any(line["message"] == "stopped" for line in lines)


FAKE_PROTO = """
syntax = "proto3";
package comet.provisioning.v1;
// The real GetAccountRequest has `string id = 1`; this caller believes it is bytes.
message GetAccountRequest { bytes id = 1; }
message GetAccountResponse {}
service AccountService { rpc GetAccount(GetAccountRequest) returns (GetAccountResponse); }
"""


def test_wrongly_typed_request_gets_invalid_argument_and_server_stays_up(
    service_process: ServiceProcess, tmp_path: Path
) -> None:
    service_process.start()
    (tmp_path / "wrong.proto").write_text(FAKE_PROTO)
    # 0xff 0xfe is not UTF-8: the bytes reach the server but cannot parse as the real message.
    result = grpcurl(
        service_process.address,
        "comet.provisioning.v1.AccountService/GetAccount",
        {"id": base64.b64encode(b"\xff\xfe").decode()},
        extra=["-import-path", str(tmp_path), "-proto", "wrong.proto"],
        check=False,
    )
    assert result.returncode != 0
    assert "Code: InvalidArgument" in result.stderr
    assert "not a valid protobuf message" in result.stderr
    # JSON whose types do not fit the real contract is refused before anything is sent.
    refused = grpcurl(
        service_process.address,
        "comet.provisioning.v1.ServerService/ListServers",
        {"page_size": "many"},
        check=False,
    )
    assert refused.returncode != 0
    assert "page_size" in refused.stderr or "ParseInt" in refused.stderr
    health = json.loads(grpcurl(service_process.address, "grpc.health.v1.Health/Check", {}).stdout)
    assert health == {"status": "SERVING"}


async def test_undecodable_bytes_get_invalid_argument_not_internal(service_process: ServiceProcess) -> None:
    service_process.start()
    async with grpc.aio.insecure_channel(service_process.address) as channel:
        call = channel.unary_unary("/comet.provisioning.v1.ServerService/ListServers")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"\xff\xff\xff", timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "MALFORMED_REQUEST"
    assert info.domain == "comet.provisioning.v1"


def _demo_comet_url(service: ServiceProcess) -> str:
    for line in service.log_lines():
        if line.startswith("{") and "comet_url" in line:
            return str(json.loads(line)["comet_url"])
    raise AssertionError("the demo did not log its simulator's URL")


async def test_sigterm_drains_in_flight_call_then_exits_zero(service_process: ServiceProcess) -> None:
    service_process.args = ["--demo"]
    service_process.start()
    comet = _demo_comet_url(service_process)
    async with aiohttp.ClientSession() as http:
        # Every Comet call now takes 400 ms: a create is in flight for a few seconds.
        async with http.post(f"{comet}/__sim__/faults", json={"latency_ms": 400}) as reply:
            assert reply.status == 200
    product = json.loads(
        grpcurl(service_process.address, "comet.provisioning.v1.CatalogService/ListProducts", {}).stdout
    )["products"][0]["id"]
    async with grpc.aio.insecure_channel(service_process.address) as channel:
        accounts = accounts_pb2_grpc.AccountServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        in_flight = asyncio.ensure_future(
            accounts.CreateAccount(
                accounts_pb2.CreateAccountRequest(
                    product_id=product, customer=accounts_pb2.Customer(email="drain@example.com")
                ),
                timeout=30,
            )
        )
        await asyncio.sleep(0.8)
        assert not in_flight.done()
        service_process.signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        status = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await accounts.ListAccounts(accounts_pb2.ListAccountsRequest(), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        response = await in_flight
        assert response.account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert await asyncio.to_thread(service_process.wait) == 0
