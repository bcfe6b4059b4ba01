"""`--verify`: checks the load's outcome on the Comet servers themselves, through their admin API.

- every successful create is exactly one account (one per order, whatever the re-sends and
  retries), still ACTIVE, and one Comet user on the account's server, holding the ordered quotas
  and the product's policy, with exactly one Comet storage vault when the product requests one;
- no Comet user appeared during the run that no account points at (an orphan): users on the server
  afterwards, minus those there before the run, minus every account's username on that server;
- the product's auto-created policy group exists exactly once on each server the run used;
- every order succeeded, and every Comet user created during the run belongs to an ACTIVE account:
  a user whose account failed or is still pending is reported, and flagged as having no limits
  when its devices, quotas or policy are not the product's (an unlimited backup account nobody
  bills) unless it is suspended;
- every Comet user that was there before the run and that no account pointed at is unchanged
  (foreign.py).

The service never returns Comet admin passwords, so the credentials come from the caller
(`--comet URL --comet-user U --comet-password P`, or `--comet-config FILE`), matched to the
registered servers by base URL, or from a throwaway admin on simulators (`--simulator-admin`).
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from comet_provisioning_client import ProvisioningClient
from comet_provisioning_client.v1 import accounts_pb2, catalog_pb2, servers_pb2

from comet_provisioning.comet import CometClient, CometServerConfig
from comet_provisioning.core.accounts.profile import COMET_STORAGE_VAULT_TYPE, created_policy_id

from .credentials import CometCredentials, normalize_url
from .foreign import ForeignBaseline, ForeignCheck, check_foreign
from .plan import Order, reference_prefix
from .runner import CallRecord
from .simcontrol import SimControl

GIB, TIB = 1024**3, 1024**4
# The original module's option keys and what one unit of each is in Comet's terms.
_OPTION_UNITS: dict[str, tuple[str, int]] = {
    "number_of_devices": ("devices", 1),
    "protected_item_quota_gb": ("protected_items", GIB),
    "protected_item_quota_tb": ("protected_items", TIB),
    "storage_vault_quota_gb": ("storage_vault", GIB),
    "storage_vault_quota_tb": ("storage_vault", TIB),
}
MAX_PROBLEMS_SHOWN = 20
# Statuses whose Comet user (if any) is not an unfinished order's.
_SETTLED = (accounts_pb2.ACCOUNT_STATUS_ACTIVE, accounts_pb2.ACCOUNT_STATUS_TERMINATED)


@dataclass
class Verification:
    verified: bool = False
    duplicates: int = 0
    orphans: int = 0
    missing_users: int = 0
    mismatched: int = 0
    policy_problems: int = 0
    failed_orders: int = 0
    # Orders answered OK whose account is not ACTIVE when checked (a lost acknowledged order).
    acked_not_active: int = 0
    # Acknowledged orders (placed without a password) that no reply handed a generated one, and,
    # on simulators, those whose password is not the Comet user's.
    passwords_not_given: int = 0
    passwords_wrong: int = 0
    passwords_checked: int = 0
    # Comet users created during the run whose account is not ACTIVE, and those of them without
    # the product's limits (and not suspended).
    not_active_users: int = 0
    unlimited_users: int = 0
    checked_users: int = 0
    servers_checked: int = 0
    # Comet users that were there before the run and no account pointed at: untouched?
    foreign: ForeignCheck | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def foreign_modified(self) -> int:
        return self.foreign.modified if self.foreign is not None else 0

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS_SHOWN:
            self.problems.append(text)


@dataclass(frozen=True)
class Expected:
    max_devices: int
    protected_items_bytes: int  # 0: no quota
    vault_bytes: int | None  # None: the product has no vault quota option
    policy_id: str
    vault_count: int  # Comet storage vaults the account should have


def expected_for(product: catalog_pb2.Product, order: Order) -> Expected:
    devices, protected, vault = 0, 0, None
    for option in product.options:
        kind = _OPTION_UNITS.get(option.key)
        if kind is None:
            continue
        quantity = order.options.get(option.key, int(option.default_quantity))
        if kind[0] == "devices":
            devices = quantity
        elif kind[0] == "protected_items":
            protected = quantity * kind[1] if quantity > 0 else protected
        else:
            vault = quantity * kind[1] if quantity > 0 else (vault or 0)
    module = product.module_settings
    policy = ""
    if module.policy_group_mode == catalog_pb2.POLICY_GROUP_MODE_CREATE_NEW:
        policy = created_policy_id(product.id)
    elif module.policy_group_mode == catalog_pb2.POLICY_GROUP_MODE_EXISTING:
        policy = module.policy_id
    return Expected(devices, protected, vault, policy, 1 if module.storage_provider_id else 0)


def limit_mismatches(profile: Mapping[str, Any], want: Expected) -> list[str]:
    """How the user's limits (devices, quotas, policy) differ from what the order should hold."""
    wrong = []
    if profile.get("MaximumDevices") != want.max_devices:
        wrong.append(f"MaximumDevices={profile.get('MaximumDevices')!r}, want {want.max_devices}")
    enabled = bool(profile.get("AllProtectedItemsQuotaEnabled"))
    if enabled != (want.protected_items_bytes > 0) or (
        enabled and profile.get("AllProtectedItemsQuotaBytes") != want.protected_items_bytes
    ):
        wrong.append(
            f"AllProtectedItemsQuota={enabled}/{profile.get('AllProtectedItemsQuotaBytes')!r}, "
            f"want {want.protected_items_bytes}"
        )
    if (profile.get("PolicyID") or "") != want.policy_id:
        wrong.append(f"PolicyID={profile.get('PolicyID')!r}, want {want.policy_id!r}")
    if want.vault_bytes is not None:
        for vault in _comet_vaults(profile):
            limited = bool(vault.get("StorageLimitEnabled"))
            if limited != (want.vault_bytes > 0) or (
                limited and vault.get("StorageLimitBytes") != want.vault_bytes
            ):
                wrong.append(
                    f"vault limit {limited}/{vault.get('StorageLimitBytes')!r}, want {want.vault_bytes}"
                )
    return wrong


def profile_mismatches(profile: Mapping[str, Any], want: Expected) -> list[str]:
    """The limits, and the number of Comet storage vaults."""
    wrong = limit_mismatches(profile, want)
    vaults = _comet_vaults(profile)
    if len(vaults) != want.vault_count:
        wrong.append(f"{len(vaults)} Comet storage vaults, want {want.vault_count}")
    return wrong


def _comet_vaults(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    destinations = profile.get("Destinations")
    return [
        v
        for v in (destinations.values() if isinstance(destinations, dict) else ())
        if isinstance(v, dict) and v.get("DestinationType") == COMET_STORAGE_VAULT_TYPE
    ]


async def list_servers(client: ProvisioningClient) -> list[servers_pb2.Server]:
    found: list[servers_pb2.Server] = []
    token = ""
    while True:
        page = await client.call(
            client.servers.ListServers, servers_pb2.ListServersRequest(page_size=100, page_token=token)
        )
        found.extend(page.servers)
        token = page.next_page_token
        if not token:
            return found


@contextlib.asynccontextmanager
async def comet_clients(
    servers: Iterable[servers_pb2.Server], credentials: Iterable[CometCredentials]
) -> AsyncIterator[dict[str, CometClient]]:
    """A Comet admin client per registered server we have credentials for (by base URL)."""
    by_url = {normalize_url(c.url): c for c in credentials}
    clients: dict[str, CometClient] = {}
    try:
        for server in servers:
            cred = by_url.get(normalize_url(server.base_url))
            if cred is None:
                continue
            config = CometServerConfig(
                server_id=server.id,
                base_url=server.base_url,
                username=cred.username,
                password=cred.password,
                max_connections=4,
                verify_tls=not server.connection.tls.insecure_skip_verify,
                request_timeout_s=120,
            )
            clients[server.id] = CometClient(config)
        yield clients
    finally:
        for comet in clients.values():
            await comet.aclose()


async def snapshot_profiles(comets: Mapping[str, CometClient]) -> dict[str, dict[str, Any]]:
    """server -> user -> profile, as list-users-full answers."""
    return {server_id: await comet.list_users_full() for server_id, comet in comets.items()}


async def verify(
    client: ProvisioningClient,
    product: catalog_pb2.Product,
    orders: list[Order],
    records: list[CallRecord],
    comets: Mapping[str, CometClient],
    before: Mapping[str, set[str]],
    run_id: str,
    *,
    foreign: ForeignBaseline | None = None,
    control: SimControl | None = None,
    passwords: Mapping[int, str] | None = None,
) -> Verification:
    """`before`: server -> the users there before the run; `foreign`: those of them no account
    pointed at, as they were (compared now); `passwords`: order -> the generated password a reply
    gave the caller (the orders carried none)."""
    report = Verification()
    comet_passwords = {sid: await control.passwords(sid) for sid in control.urls} if control else {}
    prefix = reference_prefix(run_id)
    accounts = [a async for a in client.list_accounts(page_size=500)]
    tracked: dict[str, set[str]] = defaultdict(set)
    for listed in accounts:
        if listed.username and listed.status != accounts_pb2.ACCOUNT_STATUS_TERMINATED:
            tracked[listed.server_id].add(listed.username)
    run_accounts = [a for a in accounts if a.customer.reference.startswith(prefix)]
    by_id = {a.id: a for a in run_accounts}

    # One account per order, whatever the re-sends.
    duplicated: set[int] = set()
    per_reference = Counter(a.customer.reference for a in run_accounts)
    for order in orders:
        if per_reference.get(order.reference, 0) > 1:
            duplicated.add(order.index)
            report.problem(f"order {order.index}: {per_reference[order.reference]} accounts")
    answered: dict[int, set[str]] = defaultdict(set)
    acked_active: set[int] = set()  # orders answered with an ACTIVE account (not a manual order)
    for record in records:
        if record.code == "OK":
            answered[record.order_index].add(record.account_id)
            if record.status == "ACCOUNT_STATUS_ACTIVE":
                acked_active.add(record.order_index)
    for index, ids in answered.items():
        if len(ids) > 1:
            duplicated.add(index)
            report.problem(f"order {index}: answered with {len(ids)} different accounts")
    report.duplicates = len(duplicated)
    report.failed_orders = sum(1 for order in orders if order.index not in answered)
    if report.failed_orders:
        report.problem(f"{report.failed_orders} of {len(orders)} orders failed (see the error reasons)")

    # Each successful create: one Comet user with the ordered quotas and policy.
    profiles: dict[str, dict[str, Any]] = {}
    for server_id, comet in comets.items():
        profiles[server_id] = await comet.list_users_full()
        report.servers_checked += 1
    used_servers: set[str] = set()
    for index, ids in sorted(answered.items()):
        for account_id in sorted(ids):
            account = by_id.get(account_id)
            if account is None:
                report.missing_users += 1
                report.problem(f"order {index}: account {account_id} not listed by the service")
                continue
            if account.status != accounts_pb2.ACCOUNT_STATUS_ACTIVE:
                if index not in acked_active:
                    continue  # an order for manual acceptance: PENDING until an operator's go
                report.acked_not_active += 1
                status = accounts_pb2.AccountStatus.Name(account.status).removeprefix("ACCOUNT_STATUS_")
                report.problem(f"order {index}: acknowledged, but account {account_id} is {status}")
                continue
            used_servers.add(account.server_id)
            if account.server_id not in profiles:
                report.missing_users += 1
                report.problem(f"no Comet credentials for server {account.server_id}: cannot check it")
                continue
            profile = profiles[account.server_id].get(account.username)
            report.checked_users += 1
            if profile is None:
                report.missing_users += 1
                report.problem(f"order {index}: no Comet user {account.username!r} on {account.server_id}")
                continue
            wrong = profile_mismatches(profile, expected_for(product, orders[index]))
            if wrong:
                report.mismatched += 1
                report.problem(f"order {index} ({account.username}): " + "; ".join(wrong))
            if passwords is not None:
                check_password(report, index, account, passwords.get(index, ""), comet_passwords)

    # Users created during the run whose account is not ACTIVE: failed or unfinished orders.
    check_unfinished(report, product, orders, run_accounts, profiles, before)

    # Orphans: users that appeared during the run that no account points at.
    for server_id, users in profiles.items():
        orphans = sorted(set(users) - before.get(server_id, set()) - tracked[server_id])
        report.orphans += len(orphans)
        for name in orphans[:5]:
            report.problem(f"orphan Comet user {name!r} on {server_id}")

    if foreign is not None:
        report.foreign = await check_foreign(foreign, profiles, control)
        for text in report.foreign.problems:
            report.problem(text)

    # The product's policy group: once per server.
    want_policy = expected_for(product, orders[0]).policy_id if orders else ""
    mode = product.module_settings.policy_group_mode
    if want_policy and mode != catalog_pb2.POLICY_GROUP_MODE_NONE:
        for server_id in sorted(used_servers & set(comets)):
            policies = await comets[server_id].list_policies()
            if want_policy not in policies:
                report.policy_problems += 1
                report.problem(f"policy {want_policy!r} missing on {server_id}")
                continue
            same = [pid for pid, desc in policies.items() if desc == policies[want_policy]]
            if mode == catalog_pb2.POLICY_GROUP_MODE_CREATE_NEW and len(same) != 1:
                report.policy_problems += 1
                report.problem(
                    f"{len(same)} policy groups described {policies[want_policy]!r} on {server_id}"
                )

    report.verified = not (
        report.failed_orders
        or report.acked_not_active
        or report.passwords_not_given
        or report.passwords_wrong
        or report.foreign_modified
        or report.not_active_users
        or report.unlimited_users
        or report.duplicates
        or report.orphans
        or report.missing_users
        or report.mismatched
        or report.policy_problems
    )
    return report


def check_password(
    report: Verification,
    index: int,
    account: accounts_pb2.Account,
    given: str,
    comet_passwords: Mapping[str, Mapping[str, str]],
) -> None:
    """An order placed without a password: some reply must have handed the generated one over,
    and (on simulators, which can tell) it must be the Comet user's."""
    if not given:
        report.passwords_not_given += 1
        report.problem(f"order {index} ({account.username}): no reply carried its generated password")
        return
    known = comet_passwords.get(account.server_id)
    if known is None:
        return
    report.passwords_checked += 1
    if known.get(account.username) != given:
        report.passwords_wrong += 1
        report.problem(f"order {index} ({account.username}): the password given is not the Comet user's")


def check_unfinished(
    report: Verification,
    product: catalog_pb2.Product,
    orders: list[Order],
    run_accounts: Iterable[accounts_pb2.Account],
    profiles: Mapping[str, Mapping[str, Any]],
    before: Mapping[str, set[str]],
) -> None:
    """Reports each Comet user created during the run whose account (of this run) is not ACTIVE,
    and whether the product's limits are on it."""
    by_reference = {order.reference: order for order in orders}
    owners = {
        (a.server_id, a.username): a
        for a in run_accounts
        if a.username
        and a.status not in (accounts_pb2.ACCOUNT_STATUS_ACTIVE, accounts_pb2.ACCOUNT_STATUS_TERMINATED)
    }
    for server_id, users in sorted(profiles.items()):
        for name in sorted(set(users) - before.get(server_id, set())):
            account = owners.get((server_id, name))
            if account is None:
                continue  # ACTIVE (checked with its order) or no account of this run (an orphan)
            report.not_active_users += 1
            status = accounts_pb2.AccountStatus.Name(account.status).removeprefix("ACCOUNT_STATUS_")
            profile = users[name]
            order = by_reference.get(account.customer.reference)
            wrong = limit_mismatches(profile, expected_for(product, order)) if order is not None else []
            if profile.get("IsSuspended"):
                state = "suspended"
            elif wrong:
                report.unlimited_users += 1
                state = "WITHOUT the product's limits: " + "; ".join(wrong)
            else:
                state = "with the product's limits"
            report.problem(f"Comet user {name!r} on {server_id}: account {account.id} is {status}, {state}")
