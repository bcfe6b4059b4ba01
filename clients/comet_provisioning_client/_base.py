"""The client's core: its channel (built or given), the generated stubs, and `call()`: request ids,
deadlines, the bearer token, retries of what is retryable, and typed errors."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Self, TypeVar

import grpc
from google.protobuf.message import Message

from ._channel import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    INITIAL_BACKOFF_S,
    MAX_BACKOFF_S,
    TlsSetting,
    build_channel,
)
from .errors import ProvisioningError, error_from_rpc
from .results import Reply
from .v1 import accounts_pb2_grpc, catalog_pb2_grpc, servers_pb2_grpc

__all__ = ["ClientBase", "ensure_request_id", "new_request_id", "with_request_id"]

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp")
Item = TypeVar("Item")

_REQUEST_ID = "request_id"


def new_request_id() -> str:
    return str(uuid.uuid4())


def with_request_id(request: Req) -> tuple[Req, str]:
    """The request to send and its request id: `request` itself when it has no `request_id` field
    or already has one, else a copy with a fresh id (the caller's message is never changed)."""
    if _REQUEST_ID not in request.DESCRIPTOR.fields_by_name:
        return request, ""
    current: str = getattr(request, _REQUEST_ID)
    if current:
        return request, current
    sent = type(request)()
    sent.CopyFrom(request)
    generated = new_request_id()
    setattr(sent, _REQUEST_ID, generated)
    return sent, generated


def ensure_request_id(request: Message) -> str:
    """Fills an empty ``request_id`` (AIP-155) of `request` in place with a fresh uuid4; returns it
    ("" if the message has none). For callers that build and keep their own requests."""
    if _REQUEST_ID not in request.DESCRIPTOR.fields_by_name:
        return ""
    current: str = getattr(request, _REQUEST_ID)
    if not current:
        current = new_request_id()
        setattr(request, _REQUEST_ID, current)
    return current


class ClientBase:
    """The channel, the stubs and `call()`; see ProvisioningClient."""

    def __init__(
        self,
        target: str = "",
        *,
        channel: grpc.aio.Channel | None = None,
        token: str | None = None,
        tls: TlsSetting = None,
        default_timeout_s: float = DEFAULT_TIMEOUT_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        options: Sequence[tuple[str, Any]] = (),
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    ) -> None:
        self.default_timeout_s = default_timeout_s
        self.max_attempts = max(1, max_attempts)
        if channel is not None:
            if target or tls or options or interceptors:
                raise ValueError(
                    "with channel=, configure the target, TLS, options and interceptors on that channel"
                )
            self.target = ""
            self.channel = channel
            self._owns_channel = False
            # A channel we did not build has no retry policy of ours: call() retries UNAVAILABLE too.
            self._channel_retries = False
            self._metadata: tuple[tuple[str, str], ...] = (
                (("authorization", f"Bearer {token}"),) if token else ()
            )
        else:
            if not target:
                raise ValueError("give a target (HOST:PORT) or a channel")
            self.target = target
            self.channel = build_channel(
                target,
                token=token,
                tls=tls,
                default_timeout_s=default_timeout_s,
                max_attempts=self.max_attempts,
                options=options,
                interceptors=interceptors,
            )
            self._owns_channel = True
            self._channel_retries = self.max_attempts > 1
            self._metadata = ()  # the channel's interceptor adds the token
        self.accounts = accounts_pb2_grpc.AccountServiceStub(self.channel)
        self.servers = servers_pb2_grpc.ServerServiceStub(self.channel)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self.channel)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self, grace_s: float | None = None) -> None:
        """Closes the channel the client built; a channel passed in stays open for its owner."""
        if self._owns_channel:
            await self.channel.close(grace_s)

    # -- the generic call -------------------------------------------------------------------------

    async def call(
        self,
        method: Callable[..., Awaitable[Resp]],
        request: Req,
        *,
        timeout_s: float | None = None,
    ) -> Resp:
        """Calls a unary stub method (e.g. ``client.catalog.GetProduct``) and returns its response;
        see `invoke` for what it adds."""
        return (await self.invoke(method, request, timeout_s=timeout_s)).response

    async def invoke(
        self,
        method: Callable[..., Awaitable[Resp]],
        request: Req,
        *,
        timeout_s: float | None = None,
    ) -> Reply[Resp]:
        """Calls a unary stub method: an empty request_id is filled in (on a copy: `request` stays
        as it is), the default deadline applies to each attempt, what is retryable is retried with
        the same request_id, and a failure raises a ProvisioningError subclass. Returns the response
        with the request id sent (errors carry it too)."""
        sent, request_id = with_request_id(request)
        timeout = timeout_s or self.default_timeout_s
        attempt = 1
        while True:
            try:
                if self._metadata:
                    response = await method(sent, timeout=timeout, metadata=self._metadata)
                else:
                    response = await method(sent, timeout=timeout)
                return Reply(response, request_id)
            except grpc.aio.AioRpcError as exc:
                error = error_from_rpc(exc, request_id=request_id)
                if attempt >= self.max_attempts or not self._retry(error):
                    raise error from exc
            await asyncio.sleep(_backoff_s(attempt))
            attempt += 1

    def _retry(self, error: ProvisioningError) -> bool:
        if not error.retryable:
            return False
        # The channel's own retry policy has already spent its attempts on UNAVAILABLE.
        return not (self._channel_retries and error.code is grpc.StatusCode.UNAVAILABLE)

    async def _pages(
        self,
        method: Callable[..., Awaitable[Resp]],
        page: Callable[[str], Message],
        items: Callable[[Resp], Sequence[Item]],
        timeout_s: float | None,
    ) -> AsyncIterator[Item]:
        """Every item of a paged List method, following next_page_token."""
        token = ""
        while True:
            response = await self.call(method, page(token), timeout_s=timeout_s)
            for item in items(response):
                yield item
            token = getattr(response, "next_page_token", "")
            if not token:
                return


def _backoff_s(attempt: int) -> float:
    """Exponential backoff with full jitter, as gRPC's retry policy does."""
    ceiling: float = min(MAX_BACKOFF_S, INITIAL_BACKOFF_S * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)  # jitter, not a secret
