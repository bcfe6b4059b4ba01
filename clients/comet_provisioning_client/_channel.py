"""The channel the client builds for itself: TLS, the bearer token, and a service config with a
retry policy for UNAVAILABLE and default deadlines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import grpc

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_TIMEOUT_S",
    "DOWNLOAD_TIMEOUT_S",
    "BearerToken",
    "TlsSetting",
    "build_channel",
    "service_config",
]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ATTEMPTS = 4
# How long a client installer download may take before the deadline cuts it.
DOWNLOAD_TIMEOUT_S = 600.0
# gRPC caps a retry policy's attempts at 5.
MAX_CHANNEL_ATTEMPTS = 5
INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0

_PACKAGE = "comet.provisioning.v1"
SERVICES = (f"{_PACKAGE}.AccountService", f"{_PACKAGE}.ServerService", f"{_PACKAGE}.CatalogService")

TlsSetting = bool | bytes | grpc.ChannelCredentials | None


def _seconds(value: float) -> str:
    return f"{value:.3f}s"


def service_config(
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    default_timeout_s: float = DEFAULT_TIMEOUT_S,
    initial_backoff_s: float = INITIAL_BACKOFF_S,
    max_backoff_s: float = MAX_BACKOFF_S,
) -> dict[str, Any]:
    """The channel's service config: retry UNAVAILABLE (a code a retry can always fix, and every
    mutating call carries a request_id so a retry never repeats an effect), bounded attempts with
    exponential backoff, and a default deadline per call (longer for installer downloads).

    The channel cannot read an error's details, so what the server marks retryable under other
    codes (ErrorInfo metadata `retryable`) is retried by the client's `call()` instead."""
    retry = {
        "maxAttempts": max(1, min(max_attempts, MAX_CHANNEL_ATTEMPTS)),
        "initialBackoff": _seconds(initial_backoff_s),
        "maxBackoff": _seconds(max_backoff_s),
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    methods: list[dict[str, Any]] = [
        {"name": [{"service": name} for name in SERVICES], "timeout": _seconds(default_timeout_s)},
        {
            "name": [{"service": f"{_PACKAGE}.AccountService", "method": "DownloadClient"}],
            "timeout": _seconds(max(default_timeout_s, DOWNLOAD_TIMEOUT_S)),
        },
    ]
    if max_attempts > 1:
        for method in methods:
            method["retryPolicy"] = retry
    # Stop retrying when most calls fail: retries then only add load to a struggling service.
    return {"methodConfig": methods, "retryThrottling": {"maxTokens": 100, "tokenRatio": 0.1}}


class BearerToken(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds ``authorization: Bearer <token>`` to every call, raw stub calls included."""

    def __init__(self, token: str) -> None:
        self.header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(*self.header)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)


def _credentials(tls: TlsSetting) -> grpc.ChannelCredentials | None:
    if tls is None or tls is False:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    if isinstance(tls, bytes):
        return grpc.ssl_channel_credentials(root_certificates=tls)
    return tls


def build_channel(
    target: str,
    *,
    token: str | None,
    tls: TlsSetting,
    default_timeout_s: float,
    max_attempts: int,
    options: Sequence[tuple[str, Any]],
    interceptors: Sequence[grpc.aio.ClientInterceptor],
) -> grpc.aio.Channel:
    config = service_config(max_attempts=max_attempts, default_timeout_s=default_timeout_s)
    channel_options: list[tuple[str, Any]] = [
        ("grpc.enable_retries", 1 if max_attempts > 1 else 0),
        ("grpc.service_config", json.dumps(config)),
        *options,
    ]
    # The caller's interceptors see each call first, as they asked for it; the token is added last.
    chain: Any = [*interceptors, *([BearerToken(token)] if token else [])] or None  # grpc-stubs: partial
    credentials = _credentials(tls)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=channel_options, interceptors=chain)
    return grpc.aio.secure_channel(target, credentials, options=channel_options, interceptors=chain)
