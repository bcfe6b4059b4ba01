"""No secrets anywhere: an end-to-end flow with bearer tokens, admin passwords, customer passwords,
a generated password, sign-on sessions and a download, logged at DEBUG through the JSON formatter;
then every log line, every reply (and error) and every stored row (every table, plus the raw bytes
of the SQLite files and of every file the service wrote) is searched for each secret used."""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import grpc
from comet_provisioning.api.auth import hash_token
from comet_provisioning.config import load
from comet_provisioning_client.v1 import accounts_pb2, catalog_pb2, servers_pb2
from google.protobuf.json_format import MessageToJson
from google.protobuf.message import Message

from tests.fixtures.logs import log_capture
from tests.fixtures.service import new_secret_key
from tests.fixtures.sim import SIM_PASSWORD
from tests.reliability.support import World, product_message, seeded_world, sim_connection


def token(role: str) -> str:
    return f"{role}-tok-{secrets.token_urlsafe(24)}"


TOKENS = {role: token(role) for role in ("admin", "provisioner", "viewer")}
STRAY_TOKEN = token("stray")


def pw(label: str) -> str:
    return f"{label}-{secrets.token_urlsafe(12)}"


class Recorder:
    """Calls the service and keeps every reply as JSON (minus the fields secret by design)."""

    def __init__(self) -> None:
        self.replies: list[str] = []

    def keep(self, message: Message, *, secret_fields: tuple[str, ...] = ()) -> None:
        shown: Any = type(message)()
        shown.CopyFrom(message)
        for name in secret_fields:
            shown.ClearField(name)
        self.replies.append(MessageToJson(shown))

    async def ok(self, call: Any, *, secret_fields: tuple[str, ...] = ()) -> Any:
        response = await call
        self.keep(response, secret_fields=secret_fields)
        return response

    async def fails(self, call: Any, code: grpc.StatusCode) -> None:
        try:
            await call
        except grpc.aio.AioRpcError as err:
            assert err.code() == code, (err.code(), err.details())
            self.replies.append(f"{err.code()} {err.details()} {err.trailing_metadata()!r}")
            return
        raise AssertionError(f"expected {code}")


def stored_rows(db_path: Path) -> str:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return "\n".join(
            f"{table}: {row!r}"
            for table in tables
            for row in conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608
        )
    finally:
        conn.close()


def written_files(*roots: Path) -> dict[str, bytes]:
    """The raw bytes of every file under the data directories (SQLite file, its WAL, CA bundles)."""
    return {str(p): p.read_bytes() for root in roots if root.exists() for p in root.rglob("*") if p.is_file()}


async def run_flow(world: World, rec: Recorder, used: dict[str, str], by_design: dict[str, str]) -> None:
    stubs, sim = world.stubs, world.sim
    admin = (("authorization", f"Bearer {TOKENS['admin']}"),)
    prov = (("authorization", f"Bearer {TOKENS['provisioner']}"),)
    viewer = (("authorization", f"Bearer {TOKENS['viewer']}"),)

    group = await rec.ok(
        stubs.servers.CreateServerGroup(
            servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="g")),
            metadata=admin,
        )
    )
    group_id = group.server_group.id
    await rec.ok(
        stubs.servers.TestConnection(
            servers_pb2.TestConnectionRequest(connection=sim_connection(sim)), metadata=admin
        )
    )
    await rec.ok(  # a wrong password: the reply says so without repeating it
        stubs.servers.TestConnection(
            servers_pb2.TestConnectionRequest(connection=sim_connection(sim, used["wrong_admin"])),
            metadata=admin,
        )
    )
    server = await rec.ok(
        stubs.servers.CreateServer(
            servers_pb2.CreateServerRequest(
                request_id="srv-1",
                server=servers_pb2.Server(
                    display_name="sim", connection=sim_connection(sim), server_group_id=group_id
                ),
            ),
            metadata=admin,
        )
    )
    server_id = server.server.id
    # A second admin on the Comet server; the service switches to it (a new stored password).
    sim.state.add_admin("admin2", used["admin2"])
    switched = servers_pb2.Server(id=server_id, connection=sim_connection(sim, used["admin2"]))
    switched.connection.admin_username = "admin2"
    await rec.ok(
        stubs.servers.UpdateServer(
            servers_pb2.UpdateServerRequest(
                server=switched,
                update_mask={"paths": ["connection.admin_username", "connection.admin_password"]},
            ),
            metadata=admin,
        )
    )
    await rec.ok(
        stubs.servers.ListPolicyGroups(
            servers_pb2.ListPolicyGroupsRequest(server_id=server_id), metadata=admin
        )
    )
    await rec.ok(
        stubs.servers.ListStorageProviders(
            servers_pb2.ListStorageProvidersRequest(server_id=server_id), metadata=admin
        )
    )
    admin_session = await rec.ok(
        stubs.servers.CreateAdminSession(
            servers_pb2.CreateAdminSessionRequest(server_id=server_id), metadata=admin
        ),
        secret_fields=("session_key",),
    )
    by_design["admin_session"] = admin_session.session_key
    provider = next(iter(sim.state.providers))
    product = await rec.ok(
        stubs.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(product=product_message("P", group_id, provider)), metadata=admin
        )
    )
    manual = await rec.ok(
        stubs.catalog.CreateProduct(
            catalog_pb2.CreateProductRequest(
                product=product_message("M", group_id, provider, setup_mode=catalog_pb2.SETUP_MODE_MANUAL)
            ),
            metadata=admin,
        )
    )
    await rec.ok(stubs.catalog.ListProducts(catalog_pb2.ListProductsRequest(), metadata=viewer))

    def create(request_id: str, product_id: str, email: str, password: str = "") -> Any:
        return stubs.accounts.CreateAccount(
            accounts_pb2.CreateAccountRequest(
                request_id=request_id,
                product_id=product_id,
                customer=accounts_pb2.Customer(email=email, first_name="Ann", reference=request_id),
                options={"number_of_devices": 3},
                password=password,
            ),
            metadata=prov,
            timeout=30,
        )

    first = await rec.ok(create("o-1", product.product.id, "ann@example.com", used["customer"]))
    await rec.ok(create("o-1", product.product.id, "ann@example.com", used["customer"]))  # replay
    await rec.fails(  # the same request id with another password: REQUEST_ID_REUSED
        create("o-1", product.product.id, "ann@example.com", used["customer_other"]),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    generated = await rec.ok(
        create("o-2", product.product.id, "bob@example.com"), secret_fields=("generated_password",)
    )
    by_design["generated"] = generated.generated_password
    assert generated.generated_password
    pending = await rec.ok(create("o-3", manual.product.id, "cy@example.com", used["pending"]))
    assert pending.account.status == accounts_pb2.ACCOUNT_STATUS_PENDING
    await rec.ok(
        stubs.accounts.ProvisionAccount(
            accounts_pb2.ProvisionAccountRequest(id=pending.account.id), metadata=prov, timeout=30
        )
    )
    account_id = first.account.id
    await rec.ok(
        stubs.accounts.ChangePassword(
            accounts_pb2.ChangePasswordRequest(id=account_id, new_password=used["changed"]), metadata=prov
        )
    )
    await rec.fails(
        stubs.accounts.ChangePassword(
            accounts_pb2.ChangePasswordRequest(id=account_id, new_password=used["short"]), metadata=prov
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    session = await rec.ok(
        stubs.accounts.CreateLoginSession(
            accounts_pb2.CreateLoginSessionRequest(id=account_id), metadata=prov
        ),
        secret_fields=("session_key",),
    )
    by_design["login_session"] = session.session_key
    chunks = 0
    async for part in stubs.accounts.DownloadClient(
        accounts_pb2.DownloadClientRequest(
            id=account_id, platform=accounts_pb2.CLIENT_PLATFORM_LINUX_GENERIC
        ),
        metadata=prov,
    ):
        rec.keep(part)
        chunks += 1
    assert chunks > 1
    await rec.ok(
        stubs.accounts.GetAccount(
            accounts_pb2.GetAccountRequest(id=account_id, view=accounts_pb2.ACCOUNT_VIEW_FULL),
            metadata=viewer,
        )
    )
    await rec.ok(stubs.accounts.SyncUsage(accounts_pb2.SyncUsageRequest(), metadata=prov))
    await rec.ok(
        stubs.accounts.SuspendAccount(accounts_pb2.SuspendAccountRequest(id=account_id), metadata=prov)
    )
    await rec.ok(
        stubs.accounts.UnsuspendAccount(accounts_pb2.UnsuspendAccountRequest(id=account_id), metadata=prov)
    )
    await rec.ok(
        stubs.accounts.ChangePackage(
            accounts_pb2.ChangePackageRequest(id=account_id, options={"number_of_devices": 5}), metadata=prov
        )
    )
    await rec.ok(
        stubs.accounts.ImportAccounts(
            accounts_pb2.ImportAccountsRequest(server_id=server_id, dry_run=True), metadata=admin
        )
    )
    await rec.ok(
        stubs.accounts.TerminateAccount(accounts_pb2.TerminateAccountRequest(id=account_id), metadata=prov)
    )
    for account in (
        await rec.ok(stubs.accounts.ListAccounts(accounts_pb2.ListAccountsRequest(), metadata=viewer))
    ).accounts:
        await rec.ok(
            stubs.accounts.ListAccountEvents(
                accounts_pb2.ListAccountEventsRequest(account_id=account.id, page_size=1000), metadata=viewer
            )
        )
    await rec.ok(stubs.servers.ListServers(servers_pb2.ListServersRequest(), metadata=viewer))
    await rec.ok(stubs.servers.GetServer(servers_pb2.GetServerRequest(id=server_id), metadata=viewer))
    # Refusals: an unknown token, a role that does not cover the method, no token at all.
    await rec.fails(
        stubs.accounts.ChangePassword(
            accounts_pb2.ChangePasswordRequest(id=account_id, new_password=used["changed"]),
            metadata=(("authorization", f"Bearer {STRAY_TOKEN}"),),
        ),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await rec.fails(
        stubs.servers.CreateServer(
            servers_pb2.CreateServerRequest(
                server=servers_pb2.Server(
                    display_name="x", connection=sim_connection(sim), server_group_id=group_id
                )
            ),
            metadata=viewer,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await rec.fails(
        stubs.servers.TestConnection(servers_pb2.TestConnectionRequest(connection=sim_connection(sim))),
        grpc.StatusCode.UNAUTHENTICATED,
    )


async def test_no_password_or_token_in_logs_replies_or_store(tmp_path: Path) -> None:
    used = {
        "wrong_admin": pw("WrongAdmin"),
        "admin2": pw("Admin2"),
        "customer": pw("Customer"),
        "customer_other": pw("CustomerOther"),
        "pending": pw("Pending"),
        "changed": pw("Changed"),
        "short": "Sh0rt!x",
        "sim_admin": SIM_PASSWORD,
        **{f"token_{role}": value for role, value in TOKENS.items()},
        "stray_token": STRAY_TOKEN,
    }
    by_design: dict[str, str] = {}  # returned once to the caller, and nowhere else
    tokens = [{"name": f"{role}-caller", "hash": hash_token(t), "role": role} for role, t in TOKENS.items()]
    data_dir = tmp_path / "data"
    db_path = tmp_path / "store.sqlite3"
    settings = load(
        env={
            "COMET_PROVISIONING_DATA_DIR": str(data_dir),
            "COMET_PROVISIONING_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
            "COMET_PROVISIONING_SECRET_KEY": new_secret_key(),
            "COMET_PROVISIONING_USAGE_SYNC_INTERVAL_S": "0",
            "COMET_PROVISIONING_SHUTDOWN_GRACE_S": "2",
            "COMET_PROVISIONING_TOKENS": json.dumps(tokens),
            "COMET_PROVISIONING_LOG_LEVEL": "DEBUG",
        },
        overrides={"listen": "127.0.0.1:0"},
    )
    assert settings.tokens
    rec = Recorder()
    with log_capture() as stream:
        async with seeded_world(tmp_path, settings=settings, installer_size=256 << 10) as world:
            await run_flow(world, rec, used, by_design)
        rows = stored_rows(db_path)  # after the service closed: everything it wrote is on disk
    files = written_files(tmp_path)
    lines = stream.getvalue().splitlines()

    assert len(lines) > 50, "the capture missed the service's log"
    records = [json.loads(line) for line in lines]  # one JSON object a line
    assert any(
        r.get("logger", "").startswith("comet_provisioning") and r["level"] == "debug" for r in records
    )
    assert "accounts" in rows
    assert any(name.endswith(".sqlite3") for name in files)
    assert set(by_design) == {"admin_session", "login_session", "generated"}
    assert all(by_design.values())

    haystacks = {"log": "\n".join(lines), "replies": "\n".join(rec.replies), "rows": rows}
    for label, secret in {**used, **by_design}.items():
        for where, text in haystacks.items():
            assert secret not in text, f"{label} found in {where}"
        for path, data in files.items():
            assert secret.encode() not in data, f"{label} found in {path}"
