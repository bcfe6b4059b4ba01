"""A small typed asyncio client: one grpc.aio channel with a retry policy in its service config,
default deadlines, the bearer token in metadata, automatic request ids, retries of what the server
says is retryable, typed errors, and helpers for accounts, the catalogue and servers.

The generated stubs stay available (``client.accounts``, ``client.servers``, ``client.catalog``) for
calls without a helper; ``client.call(stub.Method, request)`` gives them the same request id,
retry and error handling (``client.invoke`` also returns the request id sent).
"""

from __future__ import annotations

from ._accounts import AccountHelpers
from ._base import ensure_request_id, new_request_id
from ._catalog import CatalogHelpers
from ._channel import DEFAULT_MAX_ATTEMPTS, DEFAULT_TIMEOUT_S, service_config
from ._servers import ServerHelpers

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_TIMEOUT_S",
    "ProvisioningClient",
    "ensure_request_id",
    "new_request_id",
    "service_config",
]


class ProvisioningClient(AccountHelpers, CatalogHelpers, ServerHelpers):
    """Client of the Comet provisioning service.

    Either a `target` ("HOST:PORT"), for which the client builds its channel (TLS, token, retry
    policy, `options`, `interceptors`), or a ready `channel` (the caller configures and closes it;
    `token` is then sent with each of the client's own calls).

    ``tls``: None/False for plaintext, True for TLS with the system roots, PEM bytes of the root
    certificates, or ready ``grpc.ChannelCredentials`` (e.g. with a client certificate for mTLS).
    Use as ``async with ProvisioningClient(...) as client:`` or call ``close()``.
    """
