"""Helpers: read the ErrorInfo of a failed call, call any method with an empty request."""

from __future__ import annotations

from typing import Any

import grpc
from comet_provisioning.api.auth import SERVICE_DESCRIPTORS
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.rpc import error_details_pb2, status_pb2


def error_info(err: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info
    raise AssertionError(f"no ErrorInfo in {err.code()} {err.details()}")


def all_methods() -> list[MethodDescriptor]:
    return [method for service in SERVICE_DESCRIPTORS for method in service.methods]


def path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


async def call_empty(stub: Any, method: MethodDescriptor, metadata: Any = None, timeout: float = 10) -> None:
    """Calls `method` with an empty request through the generated stub; raises AioRpcError."""
    request = message_factory.GetMessageClass(method.input_type)()
    call = getattr(stub, method.name)(request, metadata=metadata, timeout=timeout)
    if method.server_streaming:
        async for _ in call:
            pass
    else:
        await call


async def code_of(stub: Any, method: MethodDescriptor, metadata: Any = None) -> grpc.StatusCode:
    try:
        await call_empty(stub, method, metadata)
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK
