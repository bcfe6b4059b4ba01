"""The three services' servicers as they stand: built methods override the pending bases."""

from __future__ import annotations

from typing import TYPE_CHECKING

from comet_provisioning_client.v1 import (
    accounts_pb2,
    accounts_pb2_grpc,
    catalog_pb2,
    catalog_pb2_grpc,
    servers_pb2,
    servers_pb2_grpc,
)

from comet_provisioning.api.pending import pending_servicer

_SERVERS = servers_pb2.DESCRIPTOR.services_by_name["ServerService"]
_CATALOG = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"]
_ACCOUNTS = accounts_pb2.DESCRIPTOR.services_by_name["AccountService"]

SERVICE_NAMES = (_SERVERS.full_name, _CATALOG.full_name, _ACCOUNTS.full_name)

_ACCOUNT_ISSUES = {m.name: 5 for m in _ACCOUNTS.methods} | {
    name: 6 for name in ("SyncUsage", "CreateLoginSession", "DownloadClient", "ImportAccounts")
}

# For the type checker the pending bases are the generated servicers they subclass.
if TYPE_CHECKING:
    PendingServerService = servers_pb2_grpc.ServerServiceServicer
    PendingCatalogService = catalog_pb2_grpc.CatalogServiceServicer
    PendingAccountService = accounts_pb2_grpc.AccountServiceServicer
else:
    PendingServerService = pending_servicer(
        servers_pb2_grpc.ServerServiceServicer, _SERVERS, {m.name: 4 for m in _SERVERS.methods}
    )
    PendingCatalogService = pending_servicer(
        catalog_pb2_grpc.CatalogServiceServicer, _CATALOG, {m.name: 4 for m in _CATALOG.methods}
    )
    PendingAccountService = pending_servicer(
        accounts_pb2_grpc.AccountServiceServicer, _ACCOUNTS, _ACCOUNT_ISSUES
    )
