"""The accounts core's errors for callers (as ServiceError: kind, reason, metadata)."""

from __future__ import annotations

from comet_provisioning.core.errors import ErrorKind, FieldViolation, ServiceError, invalid_argument

from .model import Account

__all__ = ["bad_page_token", "deadline_passed", "wrong_status"]


def wrong_status(account: Account, operation: str) -> ServiceError:
    return ServiceError(
        ErrorKind.FAILED_PRECONDITION,
        "INVALID_ACCOUNT_STATUS",
        f"cannot {operation.replace('_', ' ')} an account that is {account.status.value}",
        metadata={"account_id": account.id, "status": account.status.value, "operation": operation},
    )


def deadline_passed(account_id: str) -> ServiceError:
    return ServiceError(
        ErrorKind.DEADLINE_EXCEEDED,
        "DEADLINE_EXCEEDED",
        "the deadline passed before the work finished; progress is kept and a retry resumes it",
        metadata={"account_id": account_id} if account_id else {},
    )


def bad_page_token() -> ServiceError:
    return invalid_argument(
        [FieldViolation("page_token", "not a token from a previous response of this list and filter")],
        "INVALID_PAGE_TOKEN",
    )
