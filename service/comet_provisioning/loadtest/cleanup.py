"""`--cleanup`: terminates every account the run created, so a run against a real Comet Server does
not leave thousands of backup users behind.

The run's accounts are found by their customer reference (every order of a run carries the run's
prefix), not from the calls' replies: an order whose reply was lost or that failed half-way may still
have an account, and a Comet user. Terminating deletes the Comet user, whatever the account's
status; a terminate that meets what a retry can fix is sent again with the same request_id, as the
orders are (`--retries`). With Comet credentials (as for --verify), the servers are then asked which
of the users that appeared during the run are still there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from comet_provisioning_client import ProvisioningClient, ProvisioningError
from comet_provisioning_client.v1 import accounts_pb2

from comet_provisioning.comet import CometClient

from .plan import reference_prefix
from .progress import Progress
from .runner import RETRY_CODES, retry_backoff_s

MAX_PROBLEMS_SHOWN = 20


@dataclass
class CleanupReport:
    accounts: int = 0  # accounts of the run found
    terminated: int = 0  # terminated now or already
    failures: Counter[str] = field(default_factory=Counter)  # by error reason
    # Users that appeared on the Comet servers during the run and are still there (None: not checked).
    left_on_comet: int | None = None
    # Foreign users (there before the run, no account's) changed or deleted by then (None: not checked).
    foreign_modified: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.failures and not self.left_on_comet and not self.foreign_modified

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS_SHOWN:
            self.problems.append(text)


async def run_accounts(client: ProvisioningClient, run_id: str) -> list[accounts_pb2.Account]:
    prefix = reference_prefix(run_id)
    return [a async for a in client.list_accounts(page_size=500) if a.customer.reference.startswith(prefix)]


async def cleanup(
    client: ProvisioningClient,
    run_id: str,
    *,
    concurrency: int,
    timeout_s: float,
    comets: Mapping[str, CometClient] | None = None,
    before: Mapping[str, set[str]] | None = None,
    show_progress: bool = False,
    retries: int = 0,
) -> CleanupReport:
    report = CleanupReport()
    accounts = await run_accounts(client, run_id)
    report.accounts = len(accounts)
    lanes = asyncio.Semaphore(max(1, concurrency))
    progress = Progress(show_progress, description="cleanup", total=len(accounts), unit="account")

    async def terminate(account: accounts_pb2.Account) -> None:
        async with lanes:
            ok = True
            if account.status != accounts_pb2.ACCOUNT_STATUS_TERMINATED:
                request_id = str(uuid.uuid4())
                for attempt in range(retries + 1):
                    try:
                        await client.terminate_account(account.id, request_id=request_id, timeout_s=timeout_s)
                        break
                    except ProvisioningError as err:
                        if err.code.name in RETRY_CODES and attempt < retries:
                            await asyncio.sleep(retry_backoff_s(attempt + 1))
                            continue
                        ok = False
                        report.failures[err.reason or err.code.name] += 1
                        who = account.username or "no Comet user"
                        report.problem(f"account {account.id} ({who}): {err}")
            report.terminated += ok
            progress.advance(ok)

    try:
        await asyncio.gather(*(terminate(account) for account in accounts))
    finally:
        progress.close()
    if comets is not None and before is not None:
        report.left_on_comet = 0
        for server_id, comet in sorted(comets.items()):
            left = sorted(set(await comet.list_users()) - before.get(server_id, set()))
            report.left_on_comet += len(left)
            for name in left[:5]:
                report.problem(f"Comet user {name!r} on {server_id} is still there")
    return report
