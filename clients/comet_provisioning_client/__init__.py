"""Client package for the Comet provisioning service: generated stubs (``.v1``) and a typed asyncio
client with retries, deadlines, request ids and typed errors.

    async with ProvisioningClient("127.0.0.1:50051", token=TOKEN) as client:
        created = await client.create_account(product_id, {"email": "alice@example.com"})
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

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_TIMEOUT_S",
    "AbortedError",
    "AlreadyExistsError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProvisioningClient",
    "ProvisioningError",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "ensure_request_id",
    "error_from_rpc",
    "new_request_id",
    "service_config",
]
