"""One load test run, as a function: check the target, plan, run, (verify), (clean up), summarize."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
from comet_provisioning_client import ProvisioningClient, ProvisioningError
from comet_provisioning_client.v1 import catalog_pb2

from comet_provisioning.comet import CometError

from . import exits, runner
from .cleanup import cleanup
from .credentials import CometCredentials
from .exits import LoadTestError
from .foreign import check_foreign, foreign_baseline, seed_foreign_users, tracked_usernames
from .plan import Plan, PlanSettings, foreign_names, new_run_id
from .progress import Progress
from .report import Summary, summarize
from .settle import Settled, wait_for_sweep
from .simcontrol import SimControl, SimControlError
from .verify import comet_clients, list_servers, snapshot_profiles, verify

TOKEN_HINT = "pass --token or set COMET_PROVISIONING_TOKEN"  # noqa: S105 - advice, not a token


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
    # Terminate every account the run created once it is over (after --verify).
    cleanup: bool = False
    comet: Sequence[CometCredentials] = field(default_factory=list)
    # Verify through a throwaway admin added on each simulator (the demo): see simulator_credentials.
    simulator_admin: bool = False
    token: str | None = None
    tls: bool | bytes | None = None
    timeout_s: float = 60.0
    seed: int | None = None
    run_id: str = ""
    # A progress bar on stderr (the caller decides: a terminal, not --json).
    progress: bool = False
    # Times a caller re-sends an order (same request_id) that met UNAVAILABLE, ABORTED or
    # DEADLINE_EXCEEDED; each attempt is one call of the summary.
    retries: int = 3
    # Seconds to wait, after the orders, for accounts the service's sweep is still finishing.
    settle_timeout_s: float = 0.0
    # Share of the run's usernames held by a Comet user before the run (simulators only).
    foreign_fraction: float = 0.0
    # After the wait for the sweep, send every order no call acknowledged once more.
    late_retry: bool = False


def explain(err: ProvisioningError, config: LoadTestConfig) -> LoadTestError:
    """The one line (and exit code) for a call the whole run depends on."""
    if err.code is grpc.StatusCode.UNAVAILABLE:
        tls = "with TLS" if config.tls else "in plaintext (--tls or --ca-file for TLS)"
        return LoadTestError(
            f"nothing answers at {config.target} {tls}: is the service running there? ({err.message})",
            exits.UNREACHABLE,
        )
    if err.code is grpc.StatusCode.UNAUTHENTICATED:
        if config.token:
            return LoadTestError(f"the service refused the token ({err.message})", exits.UNAUTHORIZED)
        return LoadTestError(f"the service needs a token: {TOKEN_HINT}", exits.UNAUTHORIZED)
    if err.code is grpc.StatusCode.PERMISSION_DENIED:
        return LoadTestError(
            f"the token may not do this ({err.message}); a load test needs the provisioner role",
            exits.UNAUTHORIZED,
        )
    return LoadTestError(str(err), exits.FAILED)


async def product_to_order(client: ProvisioningClient, config: LoadTestConfig) -> catalog_pb2.Product:
    try:
        return await client.get_product(config.product_id)
    except ProvisioningError as err:
        if err.code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
            raise LoadTestError(
                f"the service has no product {config.product_id!r} (ListProducts lists them)",
                exits.UNKNOWN_PRODUCT,
            ) from err
        raise explain(err, config) from err


async def run_loadtest(config: LoadTestConfig) -> Summary:
    """Runs the load; raises LoadTestError when it cannot start or a call it depends on fails."""
    try:
        return await _run(config)
    except ProvisioningError as err:
        raise explain(err, config) from err
    except CometError as err:
        raise LoadTestError(f"cannot check the Comet servers: {err}", exits.FAILED) from err


async def _run(config: LoadTestConfig) -> Summary:
    async with (
        ProvisioningClient(config.target, token=config.token, tls=config.tls) as client,
        # The orders' own client retries nothing by itself: the runner's callers do, and count it.
        ProvisioningClient(config.target, token=config.token, tls=config.tls, max_attempts=1) as orders,
    ):
        product = await product_to_order(client, config)
        # Connected before the first order, so the orders go out in the plan's order.
        await orders.get_product(product.id)
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
        run_id = plan.settings.run_id

        async def run_orders() -> tuple[runner.RunResult, Settled | None]:
            progress = Progress(
                config.progress, description="orders", total=plan.settings.accounts, unit="order"
            )
            try:
                result = await runner.run(
                    orders,
                    product.id,
                    plan,
                    concurrency=config.concurrency,
                    rate=config.rate,
                    duration_s=config.duration_s,
                    timeout_s=config.timeout_s,
                    retries=config.retries,
                    on_record=lambda r: progress.advance(r.code == "OK", count=not r.duplicate),
                )
            finally:
                progress.close()
            settled = None
            if config.settle_timeout_s > 0:
                settled = await wait_for_sweep(client, run_id, config.settle_timeout_s)
            if config.late_retry:
                await runner.resend_unacknowledged(
                    orders,
                    product.id,
                    plan,
                    result,
                    concurrency=config.concurrency,
                    timeout_s=config.timeout_s,
                    attempt=config.retries + 1,
                )
            return result, settled

        clean_up = functools.partial(
            cleanup,
            client,
            run_id,
            concurrency=config.concurrency,
            timeout_s=config.timeout_s,
            show_progress=config.progress,
            retries=config.retries,
        )
        has_credentials = bool(config.comet) or config.simulator_admin
        if not config.verify and not (config.cleanup and has_credentials) and not config.foreign_fraction:
            result, settled = await run_orders()
            return summarize(plan, result, None, await clean_up() if config.cleanup else None, settled)
        servers = await list_servers(client)
        credentials = list(config.comet)
        control = await SimControl.find(servers) if config.simulator_admin else None
        seeded = 0
        try:
            if control is not None:
                credentials += await control.add_admin(run_id)
            if config.foreign_fraction:
                seeded = await _seed_foreign(config, plan, control)
        except SimControlError as err:
            raise LoadTestError(str(err), exits.FAILED) from err
        async with comet_clients(servers, credentials) as comets:
            profiles = await snapshot_profiles(comets)
            before = {server_id: set(users) for server_id, users in profiles.items()}
            baseline = None
            if config.verify:
                tracked = tracked_usernames([a async for a in client.list_accounts(page_size=500)])
                baseline = await foreign_baseline(profiles, tracked, control, seeded)
            result, settled = await run_orders()
            checked = (
                await verify(
                    client,
                    product,
                    plan.orders,
                    result.records,
                    comets,
                    before,
                    run_id,
                    foreign=baseline,
                    control=control,
                    passwords=result.passwords,
                )
                if config.verify
                else None
            )
            cleaned = await clean_up(comets=comets, before=before) if config.cleanup else None
            if cleaned is not None and baseline is not None:
                # Terminating deletes Comet users: still none of the foreign ones.
                after = await check_foreign(baseline, await snapshot_profiles(comets), control)
                cleaned.foreign_modified = after.modified
                for text in after.problems:
                    cleaned.problem(text)
        return summarize(plan, result, checked, cleaned, settled)


async def _seed_foreign(config: LoadTestConfig, plan: Plan, control: SimControl | None) -> int:
    """Foreign users under a share of the names the run will order, on every simulator."""
    if plan.settings.accounts is None:
        raise LoadTestError("--foreign-fraction needs --accounts (names known in advance)", exits.USAGE)
    if control is None or not control.urls:
        raise LoadTestError(
            "--foreign-fraction seeds users through a simulator's control API: it needs --simulator-admin "
            "and a registered server that is a Comet Server simulator",
            exits.USAGE,
        )
    names = foreign_names(plan.settings.run_id, plan.settings.accounts, config.foreign_fraction, config.seed)
    return await seed_foreign_users(control, names)
