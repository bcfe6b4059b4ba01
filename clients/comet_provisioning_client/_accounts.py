"""Typed helpers for AccountService: every call that changes an account returns an AccountResult
(the account, the request id sent, and a generated password where there is one)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import grpc

from ._base import ClientBase
from ._channel import DOWNLOAD_TIMEOUT_S
from .errors import error_from_rpc
from .results import AccountResult
from .v1 import accounts_pb2

__all__ = ["AccountHelpers"]


class AccountHelpers(ClientBase):
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
    ) -> AccountResult:
        """Orders an account; the same request_id (generated when empty, see the result) returns
        the first outcome. Without a password one is generated and returned here, once."""
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
        reply = await self.invoke(self.accounts.CreateAccount, request, timeout_s=timeout_s)
        return AccountResult(reply.response.account, reply.request_id, reply.response.generated_password)

    async def provision_account(
        self, account_id: str, *, request_id: str = "", timeout_s: float | None = None
    ) -> AccountResult:
        """Provisions a PENDING account (manual acceptance) or resumes a FAILED one."""
        request = accounts_pb2.ProvisionAccountRequest(request_id=request_id, id=account_id)
        reply = await self.invoke(self.accounts.ProvisionAccount, request, timeout_s=timeout_s)
        return AccountResult(reply.response.account, reply.request_id, reply.response.generated_password)

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

    def list_accounts(
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
        return self._pages(
            self.accounts.ListAccounts,
            lambda token: accounts_pb2.ListAccountsRequest(
                page_size=page_size,
                page_token=token,
                server_id=server_id,
                product_id=product_id,
                status=status,
                customer_reference=customer_reference,
            ),
            lambda page: page.accounts,
            timeout_s,
        )

    async def suspend_account(
        self, account_id: str, *, reason: str = "", request_id: str = "", timeout_s: float | None = None
    ) -> AccountResult:
        request = accounts_pb2.SuspendAccountRequest(request_id=request_id, id=account_id, reason=reason)
        reply = await self.invoke(self.accounts.SuspendAccount, request, timeout_s=timeout_s)
        return AccountResult(reply.response.account, reply.request_id)

    async def unsuspend_account(
        self, account_id: str, *, request_id: str = "", timeout_s: float | None = None
    ) -> AccountResult:
        request = accounts_pb2.UnsuspendAccountRequest(request_id=request_id, id=account_id)
        reply = await self.invoke(self.accounts.UnsuspendAccount, request, timeout_s=timeout_s)
        return AccountResult(reply.response.account, reply.request_id)

    async def terminate_account(
        self,
        account_id: str,
        *,
        uninstall_clients: bool = False,
        remove_config_files: bool = False,
        request_id: str = "",
        timeout_s: float | None = None,
    ) -> AccountResult:
        request = accounts_pb2.TerminateAccountRequest(
            request_id=request_id,
            id=account_id,
            uninstall_clients=uninstall_clients,
            remove_config_files=remove_config_files,
        )
        reply = await self.invoke(self.accounts.TerminateAccount, request, timeout_s=timeout_s)
        return AccountResult(reply.response.account, reply.request_id)

    async def change_password(
        self, account_id: str, new_password: str, *, request_id: str = "", timeout_s: float | None = None
    ) -> AccountResult:
        request = accounts_pb2.ChangePasswordRequest(
            request_id=request_id, id=account_id, new_password=new_password
        )
        reply = await self.invoke(self.accounts.ChangePassword, request, timeout_s=timeout_s)
        return AccountResult(reply.response.account, reply.request_id)

    async def change_package(
        self,
        account_id: str,
        *,
        product_id: str = "",
        options: Mapping[str, int] | None = None,
        request_id: str = "",
        timeout_s: float | None = None,
    ) -> AccountResult:
        request = accounts_pb2.ChangePackageRequest(
            request_id=request_id, id=account_id, product_id=product_id, options=dict(options or {})
        )
        reply = await self.invoke(self.accounts.ChangePackage, request, timeout_s=timeout_s)
        return AccountResult(reply.response.account, reply.request_id)

    async def download_client(
        self,
        account_id: str,
        platform: accounts_pb2.ClientPlatform.ValueType,
        *,
        timeout_s: float | None = None,
    ) -> AsyncIterator[accounts_pb2.DownloadClientResponse]:
        """The installer stream: a ClientFileInfo first, then the chunks in order."""
        request = accounts_pb2.DownloadClientRequest(id=account_id, platform=platform)
        timeout = timeout_s or max(self.default_timeout_s, DOWNLOAD_TIMEOUT_S)
        stream = (
            self.accounts.DownloadClient(request, timeout=timeout, metadata=self._metadata)
            if self._metadata
            else self.accounts.DownloadClient(request, timeout=timeout)
        )
        try:
            async for message in stream:
                yield message
        except grpc.aio.AioRpcError as err:
            raise error_from_rpc(err) from err
