"""Rich gRPC errors as exceptions: google.rpc.Status (grpc-status-details-bin) decoded into the
ErrorInfo reason, domain and metadata and the BadRequest field violations.

Depends only on grpcio and googleapis-common-protos (a grpcio-status dependency): callers of the
client package never need the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "RETRYABLE_KEY",
    "AbortedError",
    "AlreadyExistsError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProvisioningError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "error_from_rpc",
]

STATUS_DETAILS_KEY = "grpc-status-details-bin"
# ErrorInfo metadata key by which the service marks an error a retry with the same request_id may fix.
RETRYABLE_KEY = "retryable"


@dataclass(frozen=True)
class FieldViolation:
    """One BadRequest field violation: the request field path and what is wrong with it."""

    field: str
    description: str


class ProvisioningError(Exception):
    """A failed call: the gRPC status code, the ErrorInfo reason (UPPER_SNAKE_CASE), the message,
    the ErrorInfo metadata, for invalid input the field violations, and the request id the call
    was sent with (repeat the call with it: the same id never has a second effect)."""

    def __init__(
        self,
        code: grpc.StatusCode,
        reason: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
        field_violations: Sequence[FieldViolation] = (),
        domain: str = "",
        request_id: str = "",
    ) -> None:
        super().__init__(code, reason, message)
        self.code = code
        self.reason = reason
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)
        self.domain = domain
        self.request_id = request_id

    def __str__(self) -> str:
        head = f"{self.code.name} {self.reason}" if self.reason else self.code.name
        tail = f" (request_id {self.request_id})" if self.request_id else ""
        return f"{head}: {self.message}{tail}"

    @property
    def retryable(self) -> bool:
        """Whether repeating the call as is (same request_id) may succeed: UNAVAILABLE always
        (AIP-194), and any other error the server marks retryable in its ErrorInfo metadata
        (e.g. ABORTED ACCOUNT_BUSY, or DEADLINE_EXCEEDED when the server kept its progress)."""
        return self.code is grpc.StatusCode.UNAVAILABLE or self.metadata.get(RETRYABLE_KEY) == "true"


class InvalidArgumentError(ProvisioningError):
    """INVALID_ARGUMENT: fix the request (see field_violations)."""


class NotFoundError(ProvisioningError):
    """NOT_FOUND."""


class AlreadyExistsError(ProvisioningError):
    """ALREADY_EXISTS."""


class FailedPreconditionError(ProvisioningError):
    """FAILED_PRECONDITION: the resource is not in a state that allows the call."""


class AbortedError(ProvisioningError):
    """ABORTED: a conflict; retry the whole read-modify-write."""


class ResourceExhaustedError(ProvisioningError):
    """RESOURCE_EXHAUSTED: a limit was reached (server group full, too many calls)."""


class UnavailableError(ProvisioningError):
    """UNAVAILABLE: transient; retry with backoff (the channel already did, up to max_attempts)."""


class DeadlineExceededError(ProvisioningError):
    """DEADLINE_EXCEEDED: the outcome is unknown; retry with the same request_id (``request_id``)."""


class UnauthenticatedError(ProvisioningError):
    """UNAUTHENTICATED: no or an invalid token."""


class PermissionDeniedError(ProvisioningError):
    """PERMISSION_DENIED: the token's role may not call this method."""


class InternalError(ProvisioningError):
    """INTERNAL, UNKNOWN or DATA_LOSS: a bug; see the service log."""


_BY_CODE: dict[grpc.StatusCode, type[ProvisioningError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNKNOWN: InternalError,
    grpc.StatusCode.DATA_LOSS: InternalError,
}


def _status_details(trailing: Any) -> Any | None:
    for key, value in trailing or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except Exception:  # a malformed trailer must not hide the real error
                return None
    return None


def error_from_rpc(err: grpc.aio.AioRpcError | grpc.RpcError, *, request_id: str = "") -> ProvisioningError:
    """The typed exception for a failed call (works for raw stub calls too); `request_id`: the one
    the call was sent with."""
    code: grpc.StatusCode = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message: str = (err.details() if hasattr(err, "details") else "") or ""
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    reason, domain = "", ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    status = _status_details(trailing)
    if status is not None:
        message = status.message or message
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                if not reason:
                    reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    cls = _BY_CODE.get(code, ProvisioningError)
    return cls(code, reason, message, metadata, violations, domain, request_id)
