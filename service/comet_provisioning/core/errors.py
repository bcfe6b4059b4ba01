"""Domain errors: what went wrong, in terms a caller can act on, without any transport types.

The API layer maps each kind to a gRPC status code and a google.rpc.Status carrying one ErrorInfo
(the `reason` and `metadata` here) and, for invalid input, a BadRequest with the field violations.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class ErrorKind(enum.Enum):
    """The AIP-193 categories this service uses; one gRPC status code each."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    ABORTED = "ABORTED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNIMPLEMENTED = "UNIMPLEMENTED"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (e.g. `server.connection.port`) and why."""

    field: str
    description: str


class ServiceError(Exception):
    """An error meant for the caller. The message must never contain a secret."""

    def __init__(
        self,
        kind: ErrorKind,
        reason: str,
        message: str,
        *,
        metadata: Mapping[str, str] | None = None,
        violations: Iterable[FieldViolation] = (),
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.reason = reason
        self.message = message
        self.metadata: dict[str, str] = dict(metadata or {})
        self.violations: list[FieldViolation] = list(violations)


def invalid_argument(violations: Iterable[FieldViolation], reason: str = "INVALID_REQUEST") -> ServiceError:
    found = list(violations)
    summary = "; ".join(f"{v.field}: {v.description}" for v in found) or "invalid request"
    return ServiceError(
        ErrorKind.INVALID_ARGUMENT,
        reason,
        summary,
        violations=found,
        metadata={"fields": ",".join(v.field for v in found)},
    )


def invalid_field(field: str, description: str, reason: str = "INVALID_REQUEST") -> ServiceError:
    return invalid_argument([FieldViolation(field, description)], reason)


def not_found(resource: str, resource_id: str) -> ServiceError:
    return ServiceError(
        ErrorKind.NOT_FOUND,
        f"{resource.upper()}_NOT_FOUND",
        f"{resource} {resource_id!r} does not exist",
        metadata={"resource": resource, "id": resource_id},
    )


class Violations:
    """Collects field violations so a request is checked whole and every bad field named at once."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self.items.append(FieldViolation(field, description))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, reason: str = "INVALID_REQUEST") -> None:
        if self.items:
            raise invalid_argument(self.items, reason)
