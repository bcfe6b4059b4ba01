"""ImportAccounts: adopt untracked Comet users (dry run first), report tracked accounts missing on
Comet, idempotent; adopted accounts then live the normal lifecycle."""

from __future__ import annotations

import grpc
from comet_provisioning_client.v1 import accounts_pb2, servers_pb2

from tests.fixtures.db import expect_error

from .conftest import GIB, World, active, profile

TIB = 1024**4


def _seed_strangers(world: World) -> None:
    state = world.sim.state
    state.seed_user(
        "legacy-alice",
        profile={
            "Emails": ["alice@legacy.example"],
            "AccountName": "Alice",
            "MaximumDevices": 5,
            "AllProtectedItemsQuotaEnabled": True,
            "AllProtectedItemsQuotaBytes": 50 * GIB,
        },
    )
    state.seed_vault("legacy-alice", "vault-1", storage_limit_bytes=500 * GIB, size=3 * GIB)
    state.seed_user("legacy-bob", profile={"IsSuspended": True, "MaximumDevices": 0})
    # Quotas beyond the product's ranges are clamped: 40 devices (max 10), 2 TiB vault (max 5000 GB).
    state.seed_user("legacy-carol", profile={"MaximumDevices": 40})
    state.seed_vault("legacy-carol", "vault-c", storage_limit_bytes=2 * TIB + 1)


def _import(
    world: World, *, dry_run: bool = False, product_id: str | None = None, request_id: str = ""
) -> object:
    return world.stubs.accounts.ImportAccounts(
        accounts_pb2.ImportAccountsRequest(
            server_id=world.server_id,
            product_id=world.product_id if product_id is None else product_id,
            dry_run=dry_run,
            request_id=request_id,
        ),
        timeout=30,
    )


async def test_dry_run_then_import_then_again_changes_nothing(world: World) -> None:
    tracked = await active(world)
    _seed_strangers(world)
    before = {name: dict(record.profile) for name, record in world.sim.state.users.items()}
    world.sim.counters.reset()

    dry = await _import(world, dry_run=True)  # type: ignore[misc]

    assert world.sim.counters.calls["list-users-full"] == 1
    assert [u.username for u in dry.users] == ["legacy-alice", "legacy-bob", "legacy-carol"]
    assert all(u.account_id == "" for u in dry.users)
    assert dry.already_tracked == 1
    listed = await world.stubs.accounts.ListAccounts(accounts_pb2.ListAccountsRequest(), timeout=10)
    assert [a.id for a in listed.accounts] == [tracked.id]  # nothing stored

    real = await _import(world, request_id="import-1")  # type: ignore[misc]

    users = {u.username: u for u in real.users}
    assert set(users) == {"legacy-alice", "legacy-bob", "legacy-carol"}
    alice, bob, carol = users["legacy-alice"], users["legacy-bob"], users["legacy-carol"]
    assert alice.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert bob.status == accounts_pb2.ACCOUNT_STATUS_SUSPENDED
    assert dict(alice.options) == {
        "number_of_devices": 5,
        "protected_item_quota_gb": 50,
        "storage_vault_quota_gb": 500,
    }
    # Unlimited devices (0) cannot be expressed by the product (1..10): the least restrictive, 10.
    assert dict(bob.options) == {
        "number_of_devices": 10,
        "protected_item_quota_gb": 0,
        "storage_vault_quota_gb": 0,
    }
    assert dict(carol.options) == {
        "number_of_devices": 10,
        "protected_item_quota_gb": 0,
        "storage_vault_quota_gb": 2049,  # 2 TiB + 1 byte, rounded up to whole GB
    }
    stored = await world.stubs.accounts.GetAccount(
        accounts_pb2.GetAccountRequest(id=alice.account_id), timeout=10
    )
    account = stored.account
    assert (account.username, account.server_id, account.product_id) == (
        "legacy-alice",
        world.server_id,
        world.product_id,
    )
    assert account.customer.email == "alice@legacy.example"
    assert account.customer.first_name == "Alice"
    assert account.status == accounts_pb2.ACCOUNT_STATUS_ACTIVE
    assert account.HasField("provision_time")
    # Adopting changes nothing on Comet: no user created, no profile written.
    assert world.sim.counters.calls["add-user"] == 0
    assert world.sim.counters.calls["set-user-profile-hash"] == 0
    after = {name: dict(record.profile) for name, record in world.sim.state.users.items()}
    assert after == before
    events = await world.stubs.accounts.ListAccountEvents(
        accounts_pb2.ListAccountEventsRequest(account_id=alice.account_id), timeout=10
    )
    assert [(e.operation, e.step, e.request_id) for e in events.events] == [("import", "adopt", "import-1")]

    # Same request id: the first outcome again. A new run: nothing new to adopt.
    replay = await _import(world, request_id="import-1")  # type: ignore[misc]
    assert replay == real
    again = await _import(world)  # type: ignore[misc]
    assert list(again.users) == []
    assert again.already_tracked == 4
    listed = await world.stubs.accounts.ListAccounts(accounts_pb2.ListAccountsRequest(), timeout=10)
    assert len(listed.accounts) == 4


async def test_adopted_accounts_live_the_normal_lifecycle(world: World) -> None:
    _seed_strangers(world)
    users = {u.username: u for u in (await _import(world)).users}  # type: ignore[attr-defined]
    bob = users["legacy-bob"].account_id
    await world.stubs.accounts.UnsuspendAccount(accounts_pb2.UnsuspendAccountRequest(id=bob), timeout=10)
    assert profile(world, "legacy-bob")["IsSuspended"] is False
    alice = users["legacy-alice"].account_id
    await world.stubs.accounts.ChangePackage(
        accounts_pb2.ChangePackageRequest(id=alice, options={"number_of_devices": 3}), timeout=10
    )
    assert profile(world, "legacy-alice")["MaximumDevices"] == 3
    assert profile(world, "legacy-alice")["Destinations"]["vault-1"]["StorageLimitBytes"] == 500 * GIB
    # The usage sync reads adopted accounts like any other.
    [result] = (
        await world.stubs.accounts.SyncUsage(
            accounts_pb2.SyncUsageRequest(server_id=world.server_id), timeout=10
        )
    ).results
    assert result.accounts_updated == 3


async def test_tracked_accounts_missing_on_comet_are_reported(world: World) -> None:
    a = await active(world)
    b = await active(world, customer=accounts_pb2.Customer(email="b@example.com"))
    del world.sim.state.users[a.username]
    response = await _import(world, dry_run=True, product_id="")  # type: ignore[misc]
    assert list(response.missing_account_ids) == [a.id]
    assert response.already_tracked == 1
    assert not response.users
    assert b.id not in response.missing_account_ids


async def test_the_product_must_place_into_the_servers_group(world: World) -> None:
    other_group = await world.stubs.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="elsewhere"))
    )
    from comet_provisioning_client.v1 import catalog_pb2

    elsewhere = await world.stubs.catalog.CreateProduct(
        catalog_pb2.CreateProductRequest(
            product=catalog_pb2.Product(
                name="Elsewhere",
                currency_code="USD",
                module_settings=catalog_pb2.ModuleSettings(server_group_id=other_group.server_group.id),
            )
        )
    )
    _seed_strangers(world)
    await expect_error(
        _import(world, product_id=elsewhere.product.id),  # type: ignore[arg-type]
        grpc.StatusCode.FAILED_PRECONDITION,
        "PRODUCT_NOT_ON_SERVER",
    )
    bad = await expect_error(
        _import(world, product_id=""),  # type: ignore[arg-type]
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad.fields == ["product_id"]
    await expect_error(
        world.stubs.accounts.ImportAccounts(
            accounts_pb2.ImportAccountsRequest(server_id="nope", dry_run=True), timeout=10
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    listed = await world.stubs.accounts.ListAccounts(accounts_pb2.ListAccountsRequest(), timeout=10)
    assert not listed.accounts
