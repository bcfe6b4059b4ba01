"""`serve --demo`: the real service against an embedded Comet Server simulator over real HTTP.

The simulator keeps its state in the demo's data directory (never the service's: see
Settings.for_demo), so demo accounts survive a restart. Its
admin password is new on every start and goes straight into the server record (encrypted), so
nothing here is a shared default. The demo registers, once, a server group, the simulator as its
server and a product with the three configurable options of the original module.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from comet_provisioning.core.models import (
    ConnectionSpec,
    ModuleSettingsSpec,
    OptionSpec,
    ProductSpec,
    ServerGroupSpec,
    ServerSpec,
)
from comet_provisioning.core.mutations import Mutation
from comet_provisioning.core.products import ProductManager
from comet_provisioning.core.servers import ServerManager
from comet_provisioning.sim import DEFAULT_PROVIDER_ID, CometSimulator

log = logging.getLogger("comet_provisioning.demo")

GROUP_NAME = "Demo group"
SERVER_NAME = "Demo Comet Server (simulated)"
PRODUCT_NAME = "Demo Backup"
ADMIN_USER = "demo-admin"
# The demo's own writes carry no request id: nothing to replay.
_SETUP = Mutation("demo set-up", "", b"")
_TIMEOUT_S = 15.0


def _unrecorded(_record: object) -> bytes:
    return b""


@dataclass(frozen=True)
class Demo:
    simulator: CometSimulator
    server_id: str
    product_id: str


@contextlib.asynccontextmanager
async def demo_environment(
    servers: ServerManager, products: ProductManager, data_dir: str
) -> AsyncIterator[Demo]:
    password = secrets.token_urlsafe(18)
    Path(data_dir).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start-up; also when the database lives elsewhere
    simulator = CometSimulator(
        admin_user=ADMIN_USER,
        admin_password=password,
        state_file=Path(data_dir) / "demo-comet-state.json",
        installer_size=4 * 1024 * 1024,
    )
    base_url = await simulator.start(host="127.0.0.1", port=0)
    try:
        port = urlsplit(base_url).port or 0
        connection = ConnectionSpec(
            protocol="HTTP", host="127.0.0.1", port=port, admin_username=ADMIN_USER, admin_password=password
        )
        groups, _ = await servers.groups.page(1000, "")
        group = next((g for g in groups if g.name == GROUP_NAME), None)
        if group is None:
            made_group = await servers.groups.create(
                ServerGroupSpec(name=GROUP_NAME, placement_rule="LEAST_ACCOUNTS", failover=True),
                _SETUP,
                _unrecorded,
            )
            assert made_group.after is not None
            group = made_group.after
        found, _ = await servers.page(group.id, 1000, "")
        server = next((s for s in found if s.display_name == SERVER_NAME), None)
        if server is None:
            spec = ServerSpec(display_name=SERVER_NAME, connection=connection, server_group_id=group.id)
            made = await servers.create(spec, _SETUP, _unrecorded, allow_offline=False, timeout_s=_TIMEOUT_S)
        else:
            made = await servers.update(
                server.id,
                ServerSpec(connection=connection),
                ["connection"],
                _SETUP,
                _unrecorded,
                allow_offline=False,
                timeout_s=_TIMEOUT_S,
            )
        assert made.after is not None
        server = made.after
        listed, _ = await products.page(1000, "")
        product = next((p for p in listed if p.name == PRODUCT_NAME), None)
        if product is None:
            made_product = await products.create(
                _demo_product(group.id), _SETUP, _unrecorded, timeout_s=_TIMEOUT_S
            )
            assert made_product.after is not None
            product = made_product.after
        log.warning(
            "DEMO MODE: an embedded Comet Server simulator, plaintext gRPC, no authentication",
            extra={"comet_url": base_url, "server_id": server.id, "product_id": product.id},
        )
        yield Demo(simulator, server.id, product.id)
    finally:
        await simulator.stop()


def _demo_product(group_id: str) -> ProductSpec:
    return ProductSpec(
        name=PRODUCT_NAME,
        description="Comet Backup with a device limit and quotas (demo)",
        currency_code="USD",
        base_price_minor=500,
        module_settings=ModuleSettingsSpec(
            server_group_id=group_id,
            policy_group_mode="CREATE_NEW",
            storage_provider_id=DEFAULT_PROVIDER_ID,
            setup_mode="ON_ORDER",
        ),
        options=[
            OptionSpec(
                key="number_of_devices",
                min_quantity=1,
                max_quantity=20,
                default_quantity=2,
                unit_price_minor=200,
            ),
            OptionSpec(
                key="protected_item_quota_gb",
                min_quantity=0,
                max_quantity=2000,
                default_quantity=100,
                unit_price_minor=1,
            ),
            OptionSpec(
                key="storage_vault_quota_gb",
                min_quantity=10,
                max_quantity=5000,
                default_quantity=250,
                unit_price_minor=2,
            ),
        ],
    )
