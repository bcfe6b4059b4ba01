"""Server reflection as an operator uses it: the real grpcurl, and a reflection v1 client."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

from tests.fixtures.service import ServiceProcess, grpcurl

ACCOUNTS = "comet.provisioning.v1.AccountService"


def test_grpcurl_describes_methods_and_shows_the_proto_comments(service_process: ServiceProcess) -> None:
    service_process.start()
    address = service_process.address

    method = grpcurl(address, f"describe {ACCOUNTS}.CreateAccount").stdout
    assert f"{ACCOUNTS}.CreateAccount is a method" in method
    assert "Records an order for a product and, when the product sets up on order, provisions it." in method

    message = grpcurl(address, "describe comet.provisioning.v1.CreateAccountRequest").stdout
    assert "// Request for CreateAccount." in message
    assert "Optional. Chosen quantity per option key" in message

    service = grpcurl(address, f"describe {ACCOUNTS}").stdout
    assert "rpc CreateAccount ( .comet.provisioning.v1.CreateAccountRequest )" in service
    assert "Records an order for a product" in service

    enum_value = grpcurl(address, "describe comet.provisioning.v1.LimitsState.LIMITS_STATE_APPLIED").stdout
    assert "The limits are in force." in enum_value

    methods = set(grpcurl(address, f"list {ACCOUNTS}").stdout.split())
    assert f"{ACCOUNTS}.CreateAccount" in methods
    health = grpcurl(address, "describe grpc.health.v1.Health.Check").stdout
    assert "grpc.health.v1.Health.Check is a method" in health

    # the details every error carries are decoded, not "google.rpc.ErrorInfo is not recognized"
    assert "google.rpc.ErrorInfo is a message" in grpcurl(address, "describe google.rpc.ErrorInfo").stdout
    failed = grpcurl(address, f"{ACCOUNTS}/GetAccount", {"id": "acc-none"}, check=False)
    assert failed.returncode != 0
    assert "not recognized" not in failed.stderr
    assert "ACCOUNT_NOT_FOUND" in failed.stderr

    missing = grpcurl(address, f"describe {ACCOUNTS}Nope", check=False)
    assert missing.returncode != 0
    assert "not found" in missing.stderr.lower()


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_v1_and_v1alpha_resolve_a_method_with_its_comments(
    service_process: ServiceProcess, version: str
) -> None:
    service_process.start()
    async with grpc.aio.insecure_channel(service_process.address) as channel:
        info = channel.stream_stream(
            f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=f"{ACCOUNTS}.CreateAccount"),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="comet.provisioning.v1.Nope"),
            reflection_pb2.ServerReflectionRequest(
                all_extension_numbers_of_type="comet.provisioning.v1.CreateAccountRequest"
            ),
        ]
        listed, found, missing, extensions = [reply async for reply in info(iter(requests))]

    services = {service.name for service in listed.list_services_response.service}
    assert {ACCOUNTS, "grpc.health.v1.Health", f"grpc.reflection.{version}.ServerReflection"} <= services

    files = [
        descriptor_pb2.FileDescriptorProto.FromString(data)
        for data in found.file_descriptor_response.file_descriptor_proto
    ]
    assert files[0].name == "comet/provisioning/v1/accounts.proto"
    names = {f.name for f in files}
    assert {"google/protobuf/timestamp.proto", "comet/provisioning/v1/common.proto"} <= names
    comments = [location.leading_comments for location in files[0].source_code_info.location]
    assert any("Records an order for a product" in comment for comment in comments)

    assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    numbers = extensions.all_extension_numbers_response
    assert numbers.base_type_name == "comet.provisioning.v1.CreateAccountRequest"
    assert list(numbers.extension_number) == []
