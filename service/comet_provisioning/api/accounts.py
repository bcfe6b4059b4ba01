"""AccountService: proto <-> domain translation for the account lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from comet_provisioning_client.v1 import accounts_pb2, accounts_pb2_grpc, common_pb2
from google.protobuf.message import Message

from comet_provisioning.api.client_area import PLATFORMS, live_message, quotas_message, usage_message
from comet_provisioning.api.convert import Context, timestamp
from comet_provisioning.api.idempotency import fingerprint_bytes
from comet_provisioning.core.accounts.client_area import LiveDetails, read_live
from comet_provisioning.core.accounts.customer_access import open_installer, start_login_session
from comet_provisioning.core.accounts.importer import AccountImporter, ImportResult
from comet_provisioning.core.accounts.leases import HeldAccount
from comet_provisioning.core.accounts.model import (
    Account,
    AccountFilter,
    Customer,
    Event,
    LimitsState,
    Status,
)
from comet_provisioning.core.accounts.ports import CometClients
from comet_provisioning.core.accounts.queries import AccountWithQuotas
from comet_provisioning.core.accounts.service import Accounts
from comet_provisioning.core.accounts.usage_sync import UsageSync
from comet_provisioning.core.accounts.validation import Order
from comet_provisioning.core.clock import utcnow
from comet_provisioning.core.errors import Violations

M = TypeVar("M", bound=Message)

_METHOD = "/comet.provisioning.v1.AccountService/"
# Relayed installer chunks: large enough for throughput, small enough to hold a couple at once.
DOWNLOAD_CHUNK_SIZE = 256 * 1024
_STATUS_TO_PROTO = {
    Status.PENDING: accounts_pb2.ACCOUNT_STATUS_PENDING,
    Status.ACTIVE: accounts_pb2.ACCOUNT_STATUS_ACTIVE,
    Status.SUSPENDED: accounts_pb2.ACCOUNT_STATUS_SUSPENDED,
    Status.TERMINATED: accounts_pb2.ACCOUNT_STATUS_TERMINATED,
    Status.FAILED: accounts_pb2.ACCOUNT_STATUS_FAILED,
}
_STATUS_FROM_PROTO = {number: status for status, number in _STATUS_TO_PROTO.items()}
_LIMITS_TO_PROTO = {
    LimitsState.UNSPECIFIED: accounts_pb2.LIMITS_STATE_UNSPECIFIED,
    LimitsState.NO_COMET_USER: accounts_pb2.LIMITS_STATE_NO_COMET_USER,
    LimitsState.PENDING: accounts_pb2.LIMITS_STATE_PENDING,
    LimitsState.APPLIED: accounts_pb2.LIMITS_STATE_APPLIED,
    LimitsState.SUSPENDED: accounts_pb2.LIMITS_STATE_SUSPENDED,
}
_OUTCOMES = {
    "SUCCEEDED": accounts_pb2.EVENT_OUTCOME_SUCCEEDED,
    "SKIPPED": accounts_pb2.EVENT_OUTCOME_SKIPPED,
    "FAILED": accounts_pb2.EVENT_OUTCOME_FAILED,
}


def account_message(view: AccountWithQuotas, live: LiveDetails | None = None) -> accounts_pb2.Account:
    """The account as the API shows it: usage as of the last sync, and `live` in the FULL view."""
    account = view.account
    message = accounts_pb2.Account(
        id=account.id,
        product_id=account.product_id,
        customer=accounts_pb2.Customer(
            email=account.customer.email,
            first_name=account.customer.first_name,
            last_name=account.customer.last_name,
            reference=account.customer.reference,
        ),
        options=account.options,
        username=account.username,
        server_id=account.server_id,
        status=_STATUS_TO_PROTO[account.status],
        suspend_reason=account.suspend_reason,
        create_time=timestamp(account.create_time),
        update_time=timestamp(account.update_time),
        limits_state=_LIMITS_TO_PROTO[account.limits_state],
    )
    if account.next_attempt_time is not None:
        message.next_attempt_time.CopyFrom(timestamp(account.next_attempt_time))
    if account.provision_deadline is not None:
        message.provision_deadline.CopyFrom(timestamp(account.provision_deadline))
    if account.failure is not None and account.status in (Status.FAILED, Status.PENDING):
        message.failure.CopyFrom(
            common_pb2.Failure(
                step=account.failure.step, reason=account.failure.reason, message=account.failure.message
            )
        )
    if view.quotas is not None:
        message.quotas.CopyFrom(quotas_message(view.quotas))
    if account.usage is not None:
        message.usage.CopyFrom(usage_message(account.usage, account.usage_sync_time))
    if live is not None:
        message.live.CopyFrom(live_message(live))
    if account.provision_time is not None:
        message.provision_time.CopyFrom(timestamp(account.provision_time))
    if account.terminate_time is not None:
        message.terminate_time.CopyFrom(timestamp(account.terminate_time))
    return message


def event_message(event: Event) -> accounts_pb2.AccountEvent:
    message = accounts_pb2.AccountEvent(
        id=str(event.id),
        account_id=event.account_id,
        operation=event.operation,
        step=event.step,
        comet_endpoint=event.comet_endpoint,
        outcome=_OUTCOMES.get(event.outcome, accounts_pb2.EVENT_OUTCOME_UNSPECIFIED),
        error=event.error,
        request_id=event.request_id,
    )
    message.duration.FromMilliseconds(int(event.duration_ms))
    if event.create_time is not None:
        message.create_time.CopyFrom(timestamp(event.create_time))
    return message


def _require_id(field: str, value: str) -> None:
    violations = Violations()
    if not value:
        violations.add(field, "required")
    elif len(value) > 64:
        violations.add(field, "at most 64 characters")
    violations.raise_if_any()


class AccountServicer(accounts_pb2_grpc.AccountServiceServicer):
    def __init__(
        self,
        accounts: Accounts,
        *,
        clients: CometClients,
        usage: UsageSync,
        importer: AccountImporter,
    ) -> None:
        self._accounts = accounts
        self._clients = clients
        self._usage = usage
        self._importer = importer

    def _fingerprint(self, method: str, request: Message) -> str:
        request_id: str = getattr(request, "request_id", "")
        self._accounts.request_ids.check(request_id)
        return self._accounts.request_ids.fingerprint(_METHOD + method, fingerprint_bytes(request))

    async def _command(
        self,
        method: str,
        request: Message,
        account_id: str,
        command: Callable[[HeldAccount], Awaitable[Account]],
        response_type: type[M],
        context: Context,
    ) -> M:
        """Runs a command alone on the account, once per request id; the answer is the account
        it left, serialized for the request id's record."""
        _require_id("id", account_id)
        fingerprint = self._fingerprint(method, request)

        async def run(held: HeldAccount) -> bytes:
            view = await self._accounts.queries.with_quotas(await command(held))
            data: bytes = response_type(account=account_message(view)).SerializeToString(deterministic=True)
            return data

        data = await self._accounts.exclusive.run(
            account_id,
            _METHOD + method,
            getattr(request, "request_id", ""),
            fingerprint,
            run,
            timeout_s=context.time_remaining(),
        )
        return response_type.FromString(data)

    async def CreateAccount(
        self, request: accounts_pb2.CreateAccountRequest, context: Context
    ) -> accounts_pb2.CreateAccountResponse:
        order = Order(
            product_id=request.product_id,
            customer=Customer(
                email=request.customer.email.strip(),
                first_name=request.customer.first_name.strip(),
                last_name=request.customer.last_name.strip(),
                reference=request.customer.reference.strip(),
            ),
            options=dict(request.options),
            username=request.username,
            password=request.password,
        )
        result = await self._accounts.orders.create(
            order,
            request_id=request.request_id,
            fingerprint=self._fingerprint("CreateAccount", request),
            timeout_s=context.time_remaining(),
        )
        view = await self._accounts.queries.with_quotas(result.account)
        return accounts_pb2.CreateAccountResponse(
            account=account_message(view), generated_password=result.generated_password
        )

    async def ProvisionAccount(
        self, request: accounts_pb2.ProvisionAccountRequest, context: Context
    ) -> accounts_pb2.ProvisionAccountResponse:
        _require_id("id", request.id)
        self._accounts.request_ids.check(request.request_id)
        # No request-id record: the reply may carry a generated password, which is never kept.
        # Provisioning converges by itself, so a retry simply finds the account ACTIVE.
        password: list[str] = []

        async def run(held: HeldAccount) -> bytes:
            result = await self._accounts.commands.provision(held, request.request_id)
            password.append(result.generated_password)
            return result.account.id.encode()

        await self._accounts.exclusive.run(request.id, "", "", "", run, timeout_s=context.time_remaining())
        view = await self._accounts.queries.get(request.id)
        return accounts_pb2.ProvisionAccountResponse(
            account=account_message(view), generated_password=password[0] if password else ""
        )

    async def GetAccount(
        self, request: accounts_pb2.GetAccountRequest, context: Context
    ) -> accounts_pb2.GetAccountResponse:
        _require_id("id", request.id)
        if request.view not in (
            accounts_pb2.ACCOUNT_VIEW_UNSPECIFIED,
            accounts_pb2.ACCOUNT_VIEW_BASIC,
            accounts_pb2.ACCOUNT_VIEW_FULL,
        ):
            violations = Violations()
            violations.add("view", f"unknown view {request.view}")
            violations.raise_if_any()
        view = await self._accounts.queries.get(request.id)
        live = None
        # The client area exists only while there is a Comet user to read: ACTIVE or SUSPENDED.
        if request.view == accounts_pb2.ACCOUNT_VIEW_FULL and view.account.status in (
            Status.ACTIVE,
            Status.SUSPENDED,
        ):
            live = await read_live(
                self._clients, view.account, budget_s=context.time_remaining(), now=utcnow()
            )
        return accounts_pb2.GetAccountResponse(account=account_message(view, live))

    async def ListAccounts(
        self, request: accounts_pb2.ListAccountsRequest, context: Context
    ) -> accounts_pb2.ListAccountsResponse:
        violations = Violations()
        status = None
        if request.status != accounts_pb2.ACCOUNT_STATUS_UNSPECIFIED:
            status = _STATUS_FROM_PROTO.get(request.status)
            if status is None:
                violations.add("status", f"unknown status {request.status}")
        for field, value in (
            ("server_id", request.server_id),
            ("product_id", request.product_id),
            ("customer_reference", request.customer_reference),
        ):
            if len(value) > 200:
                violations.add(field, "at most 200 characters")
        violations.raise_if_any()
        where = AccountFilter(
            server_id=request.server_id,
            product_id=request.product_id,
            status=status,
            customer_reference=request.customer_reference,
        )
        views, token = await self._accounts.queries.page(where, request.page_size, request.page_token)
        return accounts_pb2.ListAccountsResponse(
            accounts=[account_message(view) for view in views], next_page_token=token
        )

    async def SuspendAccount(
        self, request: accounts_pb2.SuspendAccountRequest, context: Context
    ) -> accounts_pb2.SuspendAccountResponse:
        commands = self._accounts.commands
        return await self._command(
            "SuspendAccount",
            request,
            request.id,
            lambda held: commands.suspend(held, request.reason, request.request_id),
            accounts_pb2.SuspendAccountResponse,
            context,
        )

    async def UnsuspendAccount(
        self, request: accounts_pb2.UnsuspendAccountRequest, context: Context
    ) -> accounts_pb2.UnsuspendAccountResponse:
        commands = self._accounts.commands
        return await self._command(
            "UnsuspendAccount",
            request,
            request.id,
            lambda held: commands.unsuspend(held, request.request_id),
            accounts_pb2.UnsuspendAccountResponse,
            context,
        )

    async def TerminateAccount(
        self, request: accounts_pb2.TerminateAccountRequest, context: Context
    ) -> accounts_pb2.TerminateAccountResponse:
        commands = self._accounts.commands
        return await self._command(
            "TerminateAccount",
            request,
            request.id,
            lambda held: commands.terminate(
                held,
                uninstall=request.uninstall_clients,
                remove_config=request.remove_config_files,
                request_id=request.request_id,
            ),
            accounts_pb2.TerminateAccountResponse,
            context,
        )

    async def ChangePassword(
        self, request: accounts_pb2.ChangePasswordRequest, context: Context
    ) -> accounts_pb2.ChangePasswordResponse:
        commands = self._accounts.commands
        return await self._command(
            "ChangePassword",
            request,
            request.id,
            lambda held: commands.change_password(held, request.new_password, request.request_id),
            accounts_pb2.ChangePasswordResponse,
            context,
        )

    async def ChangePackage(
        self, request: accounts_pb2.ChangePackageRequest, context: Context
    ) -> accounts_pb2.ChangePackageResponse:
        commands = self._accounts.commands
        return await self._command(
            "ChangePackage",
            request,
            request.id,
            lambda held: commands.change_package(
                held, request.product_id, dict(request.options), request.request_id
            ),
            accounts_pb2.ChangePackageResponse,
            context,
        )

    async def ListAccountEvents(
        self, request: accounts_pb2.ListAccountEventsRequest, context: Context
    ) -> accounts_pb2.ListAccountEventsResponse:
        _require_id("account_id", request.account_id)
        events, token = await self._accounts.queries.events(
            request.account_id, request.page_size, request.page_token
        )
        return accounts_pb2.ListAccountEventsResponse(
            events=[event_message(event) for event in events], next_page_token=token
        )

    async def SyncUsage(
        self, request: accounts_pb2.SyncUsageRequest, context: Context
    ) -> accounts_pb2.SyncUsageResponse:
        if len(request.server_id) > 64:
            violations = Violations()
            violations.add("server_id", "at most 64 characters")
            violations.raise_if_any()
        results = await self._usage.sync(request.server_id)
        response = accounts_pb2.SyncUsageResponse()
        for result in results:
            entry = response.results.add(
                server_id=result.server_id,
                ok=result.ok,
                accounts_updated=result.accounts_updated,
                accounts_missing=result.accounts_missing,
                accounts_repaired=result.accounts_repaired,
                error=result.error,
            )
            entry.sync_time.CopyFrom(timestamp(result.sync_time))
        return response

    async def CreateLoginSession(
        self, request: accounts_pb2.CreateLoginSessionRequest, context: Context
    ) -> accounts_pb2.CreateLoginSessionResponse:
        _require_id("id", request.id)
        view = await self._accounts.queries.get(request.id)
        session = await start_login_session(self._clients, view.account, timeout_s=context.time_remaining())
        return accounts_pb2.CreateLoginSessionResponse(
            session_key=session.key,
            session_type=session.type,
            server_url=session.server_url,
            username=session.username,
        )

    async def DownloadClient(
        self, request: accounts_pb2.DownloadClientRequest, context: Context
    ) -> AsyncIterator[accounts_pb2.DownloadClientResponse]:
        violations = Violations()
        if not request.id:
            violations.add("id", "required")
        elif len(request.id) > 64:
            violations.add("id", "at most 64 characters")
        platform = PLATFORMS.get(request.platform)  # unknown numbers (newer clients) too
        if platform is None:
            known = ", ".join(accounts_pb2.ClientPlatform.Name(number) for number in PLATFORMS)
            violations.add("platform", f"required: one of {known}")
        violations.raise_if_any()
        assert platform is not None
        view = await self._accounts.queries.get(request.id)
        # Chunks are relayed as they arrive; each yield waits for the transport, so at most a
        # chunk or two is held here however large the installer (see tests/client_area).
        async with open_installer(
            self._clients, view.account, platform, timeout_s=context.time_remaining()
        ) as download:
            yield accounts_pb2.DownloadClientResponse(
                info=accounts_pb2.ClientFileInfo(
                    file_name=download.filename,
                    size_bytes=download.size or 0,
                    content_type=download.content_type,
                )
            )
            async for chunk in download.iter_chunks(DOWNLOAD_CHUNK_SIZE):
                yield accounts_pb2.DownloadClientResponse(chunk=chunk)

    async def ImportAccounts(
        self, request: accounts_pb2.ImportAccountsRequest, context: Context
    ) -> accounts_pb2.ImportAccountsResponse:
        fingerprint = self._fingerprint("ImportAccounts", request)

        async def work() -> bytes:
            result = await self._importer.run(
                request.server_id, request.product_id, dry_run=request.dry_run, request_id=request.request_id
            )
            data: bytes = _import_message(result).SerializeToString(deterministic=True)
            return data

        data = await self._accounts.request_ids.once(
            _METHOD + "ImportAccounts", request.request_id, fingerprint, work
        )
        return accounts_pb2.ImportAccountsResponse.FromString(data)


def _import_message(result: ImportResult) -> accounts_pb2.ImportAccountsResponse:
    return accounts_pb2.ImportAccountsResponse(
        users=[
            accounts_pb2.ImportedUser(
                username=user.username,
                account_id=user.account_id,
                status=_STATUS_TO_PROTO[user.status],
                options=user.options,
            )
            for user in result.users
        ],
        missing_account_ids=result.missing_account_ids,
        already_tracked=result.already_tracked,
    )
