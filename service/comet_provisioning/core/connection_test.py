"""A connection test: one `meta/version` call, no retries, on a fresh connection, as a verdict."""

from __future__ import annotations

import time
from dataclasses import dataclass

from comet_provisioning.comet.client import CometClient
from comet_provisioning.comet.config import CometServerConfig
from comet_provisioning.comet.errors import CometError

from .comet_errors import connection_failure
from .errors import ErrorKind, ServiceError

__all__ = ["ConnectionTest", "refused", "run_test"]

_ROLES = (("storage", "StorageRole"), ("authentication", "AuthenticationRole"), ("overseer", "OverseerRole"))


@dataclass(frozen=True)
class ConnectionTest:
    """The outcome of a connection test; `failure` is a ConnectionFailure name, "" on success.
    `transient`: a failure a retry may fix (nothing answered, a timeout, a proxy's 5xx)."""

    ok: bool
    failure: str = ""
    message: str = ""
    version: str = ""
    codename: str = ""
    roles: tuple[str, ...] = ()
    round_trip_s: float = 0.0
    transient: bool = False
    base_url: str = ""


async def run_test(config: CometServerConfig, timeout_s: float) -> ConnectionTest:
    """Never raises for what the server did: every failure is a verdict."""
    started = time.perf_counter()
    try:
        async with CometClient(config) as client:
            meta = await client.meta_version(timeout_s=timeout_s)
    except CometError as error:
        return ConnectionTest(
            ok=False,
            failure=connection_failure(error),
            message=error.message,
            round_trip_s=time.perf_counter() - started,
            transient=error.retryable,
            base_url=config.base_url,
        )
    codename = meta.raw.get("VersionCodename")
    return ConnectionTest(
        ok=True,
        version=meta.version,
        codename=codename if isinstance(codename, str) else "",
        roles=tuple(role for role, key in _ROLES if meta.raw.get(key) is True),
        round_trip_s=time.perf_counter() - started,
        base_url=config.base_url,
    )


def refused(who: str, result: ConnectionTest, metadata: dict[str, str]) -> ServiceError:
    """Connection details that failed their test are not saved unless the caller says so."""
    return ServiceError(
        ErrorKind.FAILED_PRECONDITION,
        "SERVER_CONNECTION_FAILED",
        f"the connection test of Comet server {who} at {result.base_url} failed ({result.failure}):"
        f" {result.message}; correct the connection details, or set allow_offline to save them anyway",
        metadata={**metadata, "failure": result.failure, "base_url": result.base_url},
    )
