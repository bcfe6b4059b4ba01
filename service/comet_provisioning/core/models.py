"""Domain shapes for servers, groups and products.

Specs are what a caller asks for (mutable trees whose attribute names mirror the proto fields, so a
field-mask path is an attribute path); records are what is stored (plain dataclasses, no ORM: the
repositories of `store/` take and return them). Enum values travel as their proto names without the
prefix ("HTTPS", "FILL_IN_ORDER", "CREATE_NEW"); "UNSPECIFIED" means the default and "?N" an
unknown number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = [
    "ConnectionSpec",
    "ModuleSettingsSpec",
    "OptionSpec",
    "Product",
    "ProductOption",
    "ProductSpec",
    "Server",
    "ServerGroup",
    "ServerGroupSpec",
    "ServerSpec",
    "TlsSpec",
    "describe",
]


@dataclass
class ServerGroup:
    id: str
    name: str
    placement_rule: str  # "LEAST_ACCOUNTS" | "FILL_IN_ORDER"
    failover: bool
    create_time: dt.datetime
    update_time: dt.datetime
    server_ids: list[str] = field(default_factory=list)  # read only: in placement order


@dataclass
class Server:
    id: str
    display_name: str
    protocol: str  # "http" | "https"
    host: str  # without a port
    port: int  # 0: the protocol's default
    admin_username: str
    admin_password_enc: bytes = field(repr=False)
    tls_insecure_skip_verify: bool
    tls_ca_bundle_pem: str
    server_group_id: str | None
    max_accounts: int
    max_connections: int
    placement_order: int
    create_time: dt.datetime
    update_time: dt.datetime
    comet_version: str = ""  # as meta/version last said; "" until reached
    comet_version_time: dt.datetime | None = None
    draining: bool = False  # takes no new accounts
    account_count: int = 0  # read only: the accounts taking a place on it (see placement)


@dataclass(frozen=True)
class ProductOption:
    key: str
    label: str
    min_quantity: int
    max_quantity: int
    default_quantity: int
    unit_price_minor: int
    hidden: bool


@dataclass
class Product:
    id: str
    name: str
    description: str
    currency_code: str
    base_price_minor: int
    server_group_id: str
    policy_group_mode: str  # "NONE" | "EXISTING" | "CREATE_NEW"
    policy_id: str
    storage_provider_id: str
    require_password_change: bool
    setup_mode: str  # "ON_ORDER" | "MANUAL"
    options: list[ProductOption]
    create_time: dt.datetime
    update_time: dt.datetime
    account_count: int = 0  # read only: accounts not TERMINATED


def describe(server: Server) -> str:
    """How messages name a server: its display name and its id (none before it is saved)."""
    if not server.id:
        return repr(server.display_name)
    return f"{server.display_name!r} ({server.id})" if server.display_name else server.id


@dataclass
class TlsSpec:
    insecure_skip_verify: bool = False
    ca_bundle_pem: str = ""


@dataclass
class ConnectionSpec:
    protocol: str = "UNSPECIFIED"
    host: str = ""
    port: int = 0
    admin_username: str = ""
    # None on an update means "keep the stored password".
    admin_password: str | None = field(default="", repr=False)
    tls: TlsSpec = field(default_factory=TlsSpec)


@dataclass
class ServerSpec:
    display_name: str = ""
    connection: ConnectionSpec | None = field(default_factory=ConnectionSpec)
    server_group_id: str = ""
    max_accounts: int = 0
    max_connections: int = 0
    placement_order: int = 0
    draining: bool = False


@dataclass
class ServerGroupSpec:
    name: str = ""
    placement_rule: str = "UNSPECIFIED"
    failover: bool = False


@dataclass
class OptionSpec:
    key: str = ""
    label: str = ""
    min_quantity: int = 0
    max_quantity: int = 0
    default_quantity: int = 0
    unit_price_minor: int = 0
    hidden: bool = False


@dataclass
class ModuleSettingsSpec:
    server_group_id: str = ""
    policy_group_mode: str = "UNSPECIFIED"
    policy_id: str = ""
    storage_provider_id: str = ""
    require_password_change: bool = False
    setup_mode: str = "UNSPECIFIED"


@dataclass
class ProductSpec:
    name: str = ""
    description: str = ""
    currency_code: str = ""
    base_price_minor: int = 0
    module_settings: ModuleSettingsSpec | None = field(default_factory=ModuleSettingsSpec)
    options: list[OptionSpec] = field(default_factory=list)
