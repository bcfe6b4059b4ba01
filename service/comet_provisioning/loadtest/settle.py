"""Waiting for the service's background sweep to finish what the run's callers left unfinished.

A create that met a transient failure stays PENDING and the sweep runs it again later; a FAILED
account whose Comet user's limits are not confirmed yet (limits PENDING) is contained by the sweep
too. Verifying before those settle would report work in progress as a failure, so with
`--settle-timeout S` the load waits (at most S seconds) until no account of the run is in either
state, and reports how long it waited and how many were still unsettled.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from comet_provisioning_client import ProvisioningClient
from comet_provisioning_client.v1 import accounts_pb2

from .plan import reference_prefix

POLL_S = 0.5


@dataclass(frozen=True)
class Settled:
    waited_s: float
    unsettled: int  # accounts of the run still PENDING, or FAILED with limits PENDING


def unsettled(account: accounts_pb2.Account) -> bool:
    if account.status == accounts_pb2.ACCOUNT_STATUS_PENDING:
        return True
    return (
        account.status == accounts_pb2.ACCOUNT_STATUS_FAILED
        and account.limits_state == accounts_pb2.LIMITS_STATE_PENDING
    )


async def count_unsettled(client: ProvisioningClient, run_id: str) -> int:
    prefix = reference_prefix(run_id)
    left = 0
    async for account in client.list_accounts(page_size=500):
        left += account.customer.reference.startswith(prefix) and unsettled(account)
    return left


async def wait_for_sweep(client: ProvisioningClient, run_id: str, timeout_s: float) -> Settled:
    started = time.monotonic()
    while True:
        left = await count_unsettled(client, run_id)
        waited = time.monotonic() - started
        if not left or waited >= timeout_s:
            return Settled(waited, left)
        await asyncio.sleep(min(POLL_S, max(0.0, timeout_s - waited)))
