"""Maps domain errors to rich gRPC errors: google.rpc.Status with one ErrorInfo and a BadRequest."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from comet_provisioning.core.errors import ErrorKind, ServiceError

DOMAIN = "comet.provisioning.v1"

_CODES: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.ABORTED: grpc.StatusCode.ABORTED,
    ErrorKind.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorKind.INTERNAL: grpc.StatusCode.INTERNAL,
}


# ErrorInfo metadata key telling a client that repeating the call as is (same request_id) may fix it.
RETRYABLE_KEY = "retryable"
# Retryable besides UNAVAILABLE: the account was busy on another replica (its work will end), and a
# deadline cut the work short after its progress was kept (a retry resumes it).
_RETRYABLE_REASONS = {
    (ErrorKind.ABORTED, "ACCOUNT_BUSY"),
    (ErrorKind.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
}


def status_code(err: ServiceError) -> grpc.StatusCode:
    return _CODES[err.kind]


def is_retryable(err: ServiceError) -> bool:
    return err.kind is ErrorKind.UNAVAILABLE or (err.kind, err.reason) in _RETRYABLE_REASONS


def to_rpc_status(err: ServiceError) -> grpc.Status:
    code = status_code(err)
    metadata = {**err.metadata, RETRYABLE_KEY: "true"} if is_retryable(err) else err.metadata
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=DOMAIN, metadata=metadata)
    details = [_pack(info)]
    if err.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in err.violations
            ]
        )
        details.append(_pack(bad))
    status = status_pb2.Status(code=code.value[0], message=err.message, details=details)
    result: grpc.Status = rpc_status.to_status(status)
    return result


def _pack(message: error_details_pb2.ErrorInfo | error_details_pb2.BadRequest) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def internal_error() -> ServiceError:
    """What a caller sees for a bug: no exception text, which could carry a secret."""
    return ServiceError(ErrorKind.INTERNAL, "INTERNAL", "internal error; see the service log")


def malformed_request(method: str) -> ServiceError:
    return ServiceError(
        ErrorKind.INVALID_ARGUMENT,
        "MALFORMED_REQUEST",
        "the request is not a valid protobuf message for this method",
        metadata={"method": method},
    )


async def abort(context: grpc.aio.ServicerContext[Any, Any], err: ServiceError) -> NoReturn:
    """Ends the call with the rich status for `err` (grpc-stubs lacks abort_with_status)."""
    await context.abort_with_status(to_rpc_status(err))  # type: ignore[attr-defined]
    raise AssertionError("abort_with_status returned")  # pragma: no cover
