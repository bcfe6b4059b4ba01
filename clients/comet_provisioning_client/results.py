"""What the client's calls return: the answer and the request id that was sent with it.

A caller that did not choose a request id still learns the one the client generated, so it can
repeat the call with it later (same id, same outcome: AIP-155) instead of placing a second order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .v1 import accounts_pb2, catalog_pb2, servers_pb2

__all__ = ["AccountResult", "Deleted", "ProductResult", "Reply", "ServerGroupResult", "ServerResult"]

Resp = TypeVar("Resp")


@dataclass(frozen=True)
class Reply(Generic[Resp]):
    """A raw call's response and the request id it carried ("" for a method without one)."""

    response: Resp
    request_id: str


@dataclass(frozen=True)
class AccountResult:
    """What every call that changes an account returns (create, provision, suspend, ...)."""

    account: accounts_pb2.Account
    request_id: str
    # Set only by an order or provisioning that generated the password: shown once, never stored.
    generated_password: str = field(default="", repr=False)


@dataclass(frozen=True)
class ProductResult:
    product: catalog_pb2.Product
    request_id: str


@dataclass(frozen=True)
class ServerResult:
    server: servers_pb2.Server
    request_id: str


@dataclass(frozen=True)
class ServerGroupResult:
    server_group: servers_pb2.ServerGroup
    request_id: str


@dataclass(frozen=True)
class Deleted:
    """A delete's outcome: nothing left to return but the request id it was sent with."""

    request_id: str
