"""Client package for the Comet provisioning service: generated stubs (``.v1``) and a typed asyncio
client with retries, deadlines, request ids and typed errors.

    async with ProvisioningClient("127.0.0.1:50051", token=TOKEN) as client:
        created = await client.create_account(product_id, {"email": "alice@example.com"})
        print(created.account.username, created.request_id)
"""

from .client import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    ProvisioningClient,
    ensure_request_id,
    new_request_id,
    service_config,
)
from .errors import (
    RETRYABLE_KEY,
    AbortedError,
    AlreadyExistsError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProvisioningError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    error_from_rpc,
)
from .results import AccountResult, Deleted, ProductResult, Reply, ServerGroupResult, ServerResult

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_TIMEOUT_S",
    "RETRYABLE_KEY",
    "AbortedError",
    "AccountResult",
    "AlreadyExistsError",
    "DeadlineExceededError",
    "Deleted",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProductResult",
    "ProvisioningClient",
    "ProvisioningError",
    "Reply",
    "ResourceExhaustedError",
    "ServerGroupResult",
    "ServerResult",
    "UnauthenticatedError",
    "UnavailableError",
    "ensure_request_id",
    "error_from_rpc",
    "new_request_id",
    "service_config",
]
