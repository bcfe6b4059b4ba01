"""A small typed asyncio client: one grpc.aio channel with a retry policy in its service config,
default deadlines, the bearer token in metadata, automatic request ids and typed errors.

The generated stubs stay available (``client.accounts``, ``client.servers``, ``client.catalog``) for
calls without a convenience method; ``client.call(stub.Method, request)`` gives them the same request
id and error handling.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from .errors import error_from_rpc
from .v1 import accounts_pb2, accounts_pb2_grpc, catalog_pb2_grpc, servers_pb2_grpc

__all__ = ["DEFAULT_MAX_ATTEMPTS", "DEFAULT_TIMEOUT_S", "ProvisioningClient", "service_config"]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ATTEMPTS = 4
# How long a client installer download may take before the deadline cuts it.
DOWNLOAD_TIMEOUT_S = 600.0

_PACKAGE = "comet.provisioning.v1"
SERVICES = (f"{_PACKAGE}.AccountService", f"{_PACKAGE}.ServerService", f"{_PACKAGE}.CatalogService")

Req = TypeVar("Req", bound=Message)
Resp = TypeVar("Resp")

TlsSetting = bool | bytes | grpc.ChannelCredentials | None


def _seconds(value: float) -> str:
    return f"{value:.3f}s"


def service_config(
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    default_timeout_s: float = DEFAULT_TIMEOUT_S,
    initial_backoff_s: float = 0.1,
    max_backoff_s: float = 2.0,
) -> dict[str, Any]:
    """The channel's service config: retry UNAVAILABLE only (the one code a retry can fix, and every
    mutating call carries a request_id so a retry never repeats an effect), bounded attempts with
    exponential backoff, and a default deadline per call (longer for installer downloads)."""
    retry = {
        "maxAttempts": max(1, min(max_attempts, 5)),  # gRPC caps attempts at 5
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


class _BearerToken(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Adds ``authorization: Bearer <token>`` to every call, raw stub calls included."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(*self._header)
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


def new_request_id() -> str:
    return str(uuid.uuid4())


class ProvisioningClient:
    """Client of the Comet provisioning service.

    ``tls``: None/False for plaintext, True for TLS with the system roots, PEM bytes of the root
    certificates, or ready ``grpc.ChannelCredentials`` (e.g. with a client certificate for mTLS).
    Use as ``async with ProvisioningClient(...) as client:`` or call ``close()``.
    """

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tls: TlsSetting = None,
        default_timeout_s: float = DEFAULT_TIMEOUT_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.target = target
        self.default_timeout_s = default_timeout_s
        config = service_config(max_attempts=max_attempts, default_timeout_s=default_timeout_s)
        channel_options: list[tuple[str, Any]] = [
            ("grpc.enable_retries", 1 if max_attempts > 1 else 0),
            ("grpc.service_config", json.dumps(config)),
            *options,
        ]
        interceptors: Any = [_BearerToken(token)] if token else None  # grpc-stubs types these partially
        credentials = _credentials(tls)
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(
                target, options=channel_options, interceptors=interceptors
            )
        else:
            self.channel = grpc.aio.secure_channel(
                target, credentials, options=channel_options, interceptors=interceptors
            )
        self.accounts = accounts_pb2_grpc.AccountServiceStub(self.channel)
        self.servers = servers_pb2_grpc.ServerServiceStub(self.channel)
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self.channel)

    async def __aenter__(self) -> ProvisioningClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self, grace_s: float | None = None) -> None:
        await self.channel.close(grace_s)

    # -- the generic call -------------------------------------------------------------------------

    async def call(
        self,
        method: Callable[..., Awaitable[Resp]],
        request: Req,
        *,
        timeout_s: float | None = None,
    ) -> Resp:
        """Calls a unary stub method: a request_id is filled in when the request has an empty one,
        the default deadline applies, and a failure raises a ProvisioningError subclass."""
        ensure_request_id(request)
        try:
            return await method(request, timeout=timeout_s or self.default_timeout_s)
        except grpc.aio.AioRpcError as err:
            raise error_from_rpc(err) from err

    # -- accounts ---------------------------------------------------------------------------------

    async def create_account(
        self,
        product_id: str,
        customer: accounts_pb2.Customer | Mapping[str, str],
        *,
        options: Mapping[str, int] | None = None,
        username: str = "",
        password: str = "",
        request_id: str = "",
        timeout_s: float | None = None,
    ) -> accounts_pb2.CreateAccountResponse:
        """Orders an account; the same request_id (generated when empty) returns the first outcome."""
        if not isinstance(customer, accounts_pb2.Customer):
            customer = accounts_pb2.Customer(**customer)
        request = accounts_pb2.CreateAccountRequest(
            request_id=request_id,
            product_id=product_id,
            customer=customer,
            options=dict(options or {}),
            username=username,
            password=password,
        )
        return await self.call(self.accounts.CreateAccount, request, timeout_s=timeout_s)

    async def provision_account(
        self, account_id: str, *, request_id: str = "", timeout_s: float | None = None
    ) -> accounts_pb2.ProvisionAccountResponse:
        request = accounts_pb2.ProvisionAccountRequest(request_id=request_id, id=account_id)
        return await self.call(self.accounts.ProvisionAccount, request, timeout_s=timeout_s)

    async def get_account(
        self,
        account_id: str,
        *,
        full: bool = False,
        timeout_s: float | None = None,
    ) -> accounts_pb2.Account:
        """The account from the store, or with ``full=True`` with live details read from Comet."""
        view = accounts_pb2.ACCOUNT_VIEW_FULL if full else accounts_pb2.ACCOUNT_VIEW_BASIC
        request = accounts_pb2.GetAccountRequest(id=account_id, view=view)
        response = await self.call(self.accounts.GetAccount, request, timeout_s=timeout_s)
        return response.account

    async def list_accounts(
        self,
        *,
        server_id: str = "",
        product_id: str = "",
        status: accounts_pb2.AccountStatus.ValueType = accounts_pb2.ACCOUNT_STATUS_UNSPECIFIED,
        customer_reference: str = "",
        page_size: int = 100,
        timeout_s: float | None = None,
    ) -> AsyncIterator[accounts_pb2.Account]:
        """Every matching account, following next_page_token across pages."""
        token = ""
        while True:
            request = accounts_pb2.ListAccountsRequest(
                page_size=page_size,
                page_token=token,
                server_id=server_id,
                product_id=product_id,
                status=status,
                customer_reference=customer_reference,
            )
            page = await self.call(self.accounts.ListAccounts, request, timeout_s=timeout_s)
            for account in page.accounts:
                yield account
            token = page.next_page_token
            if not token:
                return

    async def suspend_account(
        self, account_id: str, *, reason: str = "", request_id: str = "", timeout_s: float | None = None
    ) -> accounts_pb2.Account:
        request = accounts_pb2.SuspendAccountRequest(request_id=request_id, id=account_id, reason=reason)
        return (await self.call(self.accounts.SuspendAccount, request, timeout_s=timeout_s)).account

    async def unsuspend_account(
        self, account_id: str, *, request_id: str = "", timeout_s: float | None = None
    ) -> accounts_pb2.Account:
        request = accounts_pb2.UnsuspendAccountRequest(request_id=request_id, id=account_id)
        return (await self.call(self.accounts.UnsuspendAccount, request, timeout_s=timeout_s)).account

    async def terminate_account(
        self,
        account_id: str,
        *,
        uninstall_clients: bool = False,
        remove_config_files: bool = False,
        request_id: str = "",
        timeout_s: float | None = None,
    ) -> accounts_pb2.Account:
        request = accounts_pb2.TerminateAccountRequest(
            request_id=request_id,
            id=account_id,
            uninstall_clients=uninstall_clients,
            remove_config_files=remove_config_files,
        )
        return (await self.call(self.accounts.TerminateAccount, request, timeout_s=timeout_s)).account

    async def change_password(
        self, account_id: str, new_password: str, *, request_id: str = "", timeout_s: float | None = None
    ) -> accounts_pb2.Account:
        request = accounts_pb2.ChangePasswordRequest(
            request_id=request_id, id=account_id, new_password=new_password
        )
        return (await self.call(self.accounts.ChangePassword, request, timeout_s=timeout_s)).account

    async def change_package(
        self,
        account_id: str,
        *,
        product_id: str = "",
        options: Mapping[str, int] | None = None,
        request_id: str = "",
        timeout_s: float | None = None,
    ) -> accounts_pb2.Account:
        request = accounts_pb2.ChangePackageRequest(
            request_id=request_id, id=account_id, product_id=product_id, options=dict(options or {})
        )
        return (await self.call(self.accounts.ChangePackage, request, timeout_s=timeout_s)).account

    async def download_client(
        self,
        account_id: str,
        platform: accounts_pb2.ClientPlatform.ValueType,
        *,
        timeout_s: float | None = None,
    ) -> AsyncIterator[accounts_pb2.DownloadClientResponse]:
        """The installer stream: a ClientFileInfo first, then the chunks in order."""
        request = accounts_pb2.DownloadClientRequest(id=account_id, platform=platform)
        stream = self.accounts.DownloadClient(
            request, timeout=timeout_s or max(self.default_timeout_s, DOWNLOAD_TIMEOUT_S)
        )
        try:
            async for message in stream:
                yield message
        except grpc.aio.AioRpcError as err:
            raise error_from_rpc(err) from err


def ensure_request_id(request: Message) -> str:
    """Fills an empty ``request_id`` (AIP-155) with a fresh uuid4; returns it ("" if none)."""
    if "request_id" not in request.DESCRIPTOR.fields_by_name:
        return ""
    current: str = getattr(request, "request_id")  # noqa: B009 - not every message has the field
    if not current:
        current = new_request_id()
        setattr(request, "request_id", current)  # noqa: B010
    return current
