"""One load test run, as a function: plan, run, (verify), summarize."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from comet_provisioning_client import ProvisioningClient
from comet_provisioning_client.v1 import catalog_pb2

from . import runner
from .credentials import CometCredentials
from .plan import Plan, PlanSettings, new_run_id
from .report import Summary, summarize
from .verify import comet_clients, list_servers, simulator_credentials, snapshot_users, verify


@dataclass
class LoadTestConfig:
    target: str
    product_id: str
    accounts: int | None = 100  # None with duration_s
    duration_s: float | None = None
    concurrency: int = 10
    rate: float | None = None
    duplicate_fraction: float = 0.0
    same_username_fraction: float = 0.0
    verify: bool = False
    comet: Sequence[CometCredentials] = field(default_factory=list)
    # Verify through a throwaway admin added on each simulator (the demo): see simulator_credentials.
    simulator_admin: bool = False
    token: str | None = None
    tls: bool | bytes | None = None
    timeout_s: float = 60.0
    seed: int | None = None
    run_id: str = ""


async def run_loadtest(config: LoadTestConfig) -> Summary:
    async with ProvisioningClient(config.target, token=config.token, tls=config.tls) as client:
        product = (
            await client.call(client.catalog.GetProduct, catalog_pb2.GetProductRequest(id=config.product_id))
        ).product
        plan = Plan(
            PlanSettings(
                run_id=config.run_id or new_run_id(),
                accounts=None if config.duration_s is not None else config.accounts,
                duplicate_fraction=config.duplicate_fraction,
                same_username_fraction=config.same_username_fraction,
                duplicate_spread=max(2, config.concurrency),
                seed=config.seed,
            ),
            product,
        )
        run_orders = functools.partial(
            runner.run,
            client,
            product.id,
            plan,
            concurrency=config.concurrency,
            rate=config.rate,
            duration_s=config.duration_s,
            timeout_s=config.timeout_s,
        )
        if not config.verify:
            return summarize(plan, await run_orders(), None)
        servers = await list_servers(client)
        credentials = list(config.comet)
        if config.simulator_admin:
            credentials += await simulator_credentials(servers, plan.settings.run_id)
        async with comet_clients(servers, credentials) as comets:
            before = await snapshot_users(comets)
            result = await run_orders()
            checked = await verify(
                client, product, plan.orders, result.records, comets, before, plan.settings.run_id
            )
        return summarize(plan, result, checked)
