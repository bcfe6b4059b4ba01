"""Plain rows as dataclasses: what repositories take and return (no ORM, no session state)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = ["ProductOption", "ProductRecord", "ServerGroupRecord", "ServerRecord"]


@dataclass
class ServerGroupRecord:
    id: str
    name: str
    placement_rule: str  # "LEAST_ACCOUNTS" | "FILL_IN_ORDER"
    failover: bool
    create_time: dt.datetime
    update_time: dt.datetime
    server_ids: list[str] = field(default_factory=list)  # read only: in placement order


@dataclass
class ServerRecord:
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
    account_count: int = 0  # read only: accounts not TERMINATED


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
class ProductRecord:
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
