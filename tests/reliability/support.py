"""Shared by the reliability tests and `run_suites.py`: a seeded world (the service in-process, a
Comet simulator registered in it, products and accounts in every status), store snapshots, and
small helpers to read the codes callers saw."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import grpc
from comet_provisioning.app import running_service
from comet_provisioning.config import Settings
from comet_provisioning.loadtest.foreign import FOREIGN_PROFILE, write_calls
from comet_provisioning.sim import CometSimulator
from comet_provisioning_client.v1 import (
    accounts_pb2,
    accounts_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
    servers_pb2,
    servers_pb2_grpc,
)

from tests.fixtures.db import service_settings
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD

# The tables a rejected call must leave alone (the brief's accounts/servers/products/idempotency).
TRACKED_TABLES = ("accounts", "servers", "server_groups", "products", "idempotency_keys")
OPTION_KEYS = ("number_of_devices", "protected_item_quota_gb", "storage_vault_quota_gb")


@dataclass
class Known:
    """Ids that exist in the seeded world, so fuzzed requests also reach past the NOT_FOUND check."""

    group_ids: list[str] = field(default_factory=list)
    server_ids: list[str] = field(default_factory=list)
    product_ids: list[str] = field(default_factory=list)
    account_ids: list[str] = field(default_factory=list)
    usernames: list[str] = field(default_factory=list)
    policy_ids: list[str] = field(default_factory=list)
    provider_ids: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)

    def all_ids(self) -> list[str]:
        return [*self.group_ids, *self.server_ids, *self.product_ids, *self.account_ids]


@dataclass
class Stubs:
    channel: grpc.aio.Channel
    servers: servers_pb2_grpc.ServerServiceStub
    catalog: catalog_pb2_grpc.CatalogServiceStub
    accounts: accounts_pb2_grpc.AccountServiceStub

    @classmethod
    def on(cls, channel: grpc.aio.Channel) -> Stubs:
        return cls(
            channel,
            servers_pb2_grpc.ServerServiceStub(channel),
            catalog_pb2_grpc.CatalogServiceStub(channel),
            accounts_pb2_grpc.AccountServiceStub(channel),
        )


@dataclass
class World:
    sim: CometSimulator
    settings: Settings
    address: str
    stubs: Stubs
    db_path: Path | None
    group_id: str = ""
    server_id: str = ""
    product_id: str = ""
    # A catalogue the fuzzer is not told about, to make fresh accounts whatever it did to the rest.
    hidden_product_id: str = ""
    known: Known = field(default_factory=Known)


def sim_connection(sim: CometSimulator, password: str = SIM_PASSWORD) -> servers_pb2.ServerConnection:
    url = urlsplit(sim.base_url)
    return servers_pb2.ServerConnection(
        protocol=servers_pb2.PROTOCOL_HTTP,
        host=url.hostname or "",
        port=url.port or 0,
        admin_username=SIM_ADMIN,
        admin_password=password,
    )


def option(key: str, lo: int, hi: int, default: int) -> catalog_pb2.ConfigurableOption:
    return catalog_pb2.ConfigurableOption(
        key=key, min_quantity=lo, max_quantity=hi, default_quantity=default, unit_price_minor=100
    )


def product_message(name: str, group_id: str, provider_id: str, **module: Any) -> catalog_pb2.Product:
    module.setdefault("policy_group_mode", catalog_pb2.POLICY_GROUP_MODE_CREATE_NEW)
    return catalog_pb2.Product(
        name=name,
        currency_code="USD",
        base_price_minor=500,
        module_settings=catalog_pb2.ModuleSettings(
            server_group_id=group_id, storage_provider_id=provider_id, **module
        ),
        options=[
            option("number_of_devices", 1, 10, 2),
            option("protected_item_quota_gb", 0, 1000, 100),
            option("storage_vault_quota_gb", 0, 5000, 250),
        ],
    )


async def setup_catalog(stubs: Stubs, sim: CometSimulator, *, metadata: Any = None) -> tuple[str, str, str]:
    """A failover group with the simulator as its server and a product placing into it."""
    group = await stubs.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(
            server_group=servers_pb2.ServerGroup(name="main", failover=True)
        ),
        metadata=metadata,
    )
    group_id = group.server_group.id
    server = await stubs.servers.CreateServer(
        servers_pb2.CreateServerRequest(
            server=servers_pb2.Server(
                display_name="sim", connection=sim_connection(sim), server_group_id=group_id
            )
        ),
        metadata=metadata,
    )
    product = await stubs.catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(
            product=product_message("Backup 100", group_id, next(iter(sim.state.providers)))
        ),
        metadata=metadata,
    )
    return group_id, server.server.id, product.product.id


async def seed(world: World) -> None:
    """Accounts in every status, a spare group and a manual-setup product, for the fuzzer's ids."""
    stubs, known, provider = world.stubs, world.known, next(iter(world.sim.state.providers))
    spare = await stubs.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="spare"))
    )
    manual = await stubs.catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(
            product=product_message(
                "Manual", world.group_id, provider, setup_mode=catalog_pb2.SETUP_MODE_MANUAL
            )
        )
    )
    hidden_group = await stubs.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="hidden"))
    )
    await stubs.servers.CreateServer(
        servers_pb2.CreateServerRequest(
            server=servers_pb2.Server(
                display_name="hidden",
                connection=sim_connection(world.sim),
                server_group_id=hidden_group.server_group.id,
            )
        )
    )
    hidden = await stubs.catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(
            product=product_message("Hidden", hidden_group.server_group.id, provider)
        )
    )
    world.hidden_product_id = hidden.product.id
    known.hosts.append(urlsplit(world.sim.base_url).netloc)
    known.group_ids += [world.group_id, spare.server_group.id]
    known.server_ids.append(world.server_id)
    known.product_ids += [world.product_id, manual.product.id]
    known.provider_ids = list(world.sim.state.providers)
    for i, (product_id, then) in enumerate(
        [
            (world.product_id, None),
            (world.product_id, None),
            (world.product_id, "suspend"),
            (world.product_id, "terminate"),
            (manual.product.id, None),  # PENDING
        ]
    ):
        created = await stubs.accounts.CreateAccount(
            accounts_pb2.CreateAccountRequest(
                request_id=f"seed-{i}",
                product_id=product_id,
                customer=accounts_pb2.Customer(email=f"seed{i}@example.com", reference=f"ref-{i}"),
                options={"number_of_devices": 3},
            ),
            timeout=30,
        )
        account = created.account
        if then == "suspend":
            await stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=account.id))
        elif then == "terminate":
            await stubs.accounts.TerminateAccount(accounts_pb2.TerminateAccountRequest(id=account.id))
        known.account_ids.append(account.id)
        if account.username:
            known.usernames.append(account.username)
    known.policy_ids = [p for p in world.sim.state.policies]


@contextlib.asynccontextmanager
async def seeded_world(
    data_dir: Path,
    *,
    settings: Settings | None = None,
    sim_latency_ms: int = 0,
    installer_size: int | None = None,
    with_accounts: bool = True,
    behaviour: str = "reference",
) -> AsyncIterator[World]:
    """Simulator (answering as the `behaviour` profile) + service in this event loop, a catalogue,
    and (by default) seeded accounts."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db_path = data_dir / "store.sqlite3"
    if settings is None:
        settings = service_settings(f"sqlite+aiosqlite:///{db_path}", data_dir / "data")
    extra: dict[str, Any] = {} if installer_size is None else {"installer_size": installer_size}
    sim = CometSimulator(
        admin_user=SIM_ADMIN,
        admin_password=SIM_PASSWORD,
        seed=1234,
        latency_ms=sim_latency_ms,
        behaviour=behaviour,
        **extra,
    )
    await sim.start(host="127.0.0.1", port=0)
    try:
        async with running_service(settings) as server:
            address = f"127.0.0.1:{server.port}"
            async with grpc.aio.insecure_channel(address) as channel:
                stubs = Stubs.on(channel)
                world = World(
                    sim,
                    settings,
                    address,
                    stubs,
                    db_path if settings.database_url.startswith("sqlite") else None,
                )
                if settings.tokens:  # the caller sets the catalogue up itself, with its token
                    yield world
                    return
                world.group_id, world.server_id, world.product_id = await setup_catalog(stubs, sim)
                if with_accounts:
                    await seed(world)
                yield world
    finally:
        await sim.stop()


async def list_all(stubs: Stubs) -> list[accounts_pb2.Account]:
    found: list[accounts_pb2.Account] = []
    token = ""
    while True:
        page = await stubs.accounts.ListAccounts(
            accounts_pb2.ListAccountsRequest(page_size=1000, page_token=token), timeout=60
        )
        found += page.accounts
        token = page.next_page_token
        if not token:
            return found


@dataclass(frozen=True)
class Snapshot:
    counts: dict[str, int]
    digests: dict[str, str]

    def differs(self, other: Snapshot) -> list[str]:
        return [t for t in self.digests if self.digests[t] != other.digests.get(t)]


def snapshot(db_path: Path, tables: Iterable[str] = TRACKED_TABLES) -> Snapshot:
    """Row counts and a digest of every row of `tables`, read through a separate connection."""
    counts: dict[str, int] = {}
    digests: dict[str, str] = {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        for table in tables:
            rows = sorted(repr(row) for row in conn.execute(f"SELECT * FROM {table}"))  # noqa: S608
            counts[table] = len(rows)
            digests[table] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    finally:
        conn.close()
    return Snapshot(counts, digests)


@dataclass
class ForeignUsers:
    """Comet users that were there before the service's first order (customers of the Comet server
    itself, a day old, with limits of their own), under names the load will ask for: the service
    must never adopt, change or delete one of them, nor send one a call that changes a user."""

    sim: CometSimulator
    names: tuple[str, ...]
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    writes: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def seed(cls, sim: CometSimulator, names: Iterable[str]) -> ForeignUsers:
        day_ago = int(time.time()) - 86_400
        foreign = cls(sim, tuple(names))
        for name in foreign.names:
            sim.state.seed_user(
                name, f"Foreign-{name}-pw", profile={**FOREIGN_PROFILE, "CreateTime": day_ago}
            )
            sim.state.seed_vault(name, size=1 << 30)
        return foreign.remember()

    def remember(self) -> ForeignUsers:
        """Their state now (again after the simulator's counters were reset)."""
        state = self.sim.state
        self.profiles = {n: copy.deepcopy(state.render_profile(state.users[n])) for n in self.names}
        self.hashes = {n: state.users[n].profile_hash for n in self.names}
        every = write_calls(self.sim.counters.to_json())
        self.writes = {n: every.get(n, {}) for n in self.names}
        return self

    def changes(self) -> list[str]:
        """One line per foreign user that was changed, deleted or sent a call that changes a user."""
        state = self.sim.state
        every = write_calls(self.sim.counters.to_json())
        found = []
        for name in self.names:
            record = state.users.get(name)
            if record is None:
                found.append(f"foreign user {name}: deleted")
                continue
            now, before = state.render_profile(record), self.profiles[name]
            what = sorted(k for k in set(before) | set(now) if now.get(k) != before.get(k))
            if record.profile_hash != self.hashes[name]:
                what.append("ProfileHash")
            calls = {e: n - self.writes[name].get(e, 0) for e, n in every.get(name, {}).items()}
            what += [f"{e} x{n}" for e, n in sorted(calls.items()) if n > 0]
            if what:
                found.append(f"foreign user {name}: {', '.join(what)}")
        return found


def code_name(err: BaseException | None) -> str:
    if err is None:
        return "OK"
    if isinstance(err, grpc.RpcError):
        code = err.code()  # type: ignore[attr-defined]
        return str(code.name)
    return type(err).__name__


def merge(into: Counter[str], more: Counter[str]) -> Counter[str]:
    into.update(more)
    return into
