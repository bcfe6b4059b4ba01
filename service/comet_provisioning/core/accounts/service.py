"""The accounts core, assembled once: what the API and the application use of it."""

from __future__ import annotations

import datetime as dt

from comet_provisioning.core.clock import Clock
from comet_provisioning.core.request_ids import RequestIds
from comet_provisioning.core.unit_of_work import Store
from comet_provisioning.crypto import SecretBox

from .commands import AccountCommands
from .exclusive import Exclusive
from .leases import AccountGuard
from .orders import Orders
from .ports import CometClients, Products
from .product_cache import RecentProducts
from .provisioner import DEFAULT_PASSWORD_RETENTION, Provisioner
from .queries import AccountQueries
from .retry_schedule import RetrySchedule
from .sweeper import Sweeper

__all__ = ["Accounts"]


class Accounts:
    def __init__(
        self,
        store: Store,
        box: SecretBox,
        clients: CometClients,
        products: Products,
        request_ids: RequestIds,
        *,
        replica_id: str,
        lease_ttl: dt.timedelta = dt.timedelta(seconds=15),
        retry_schedule: RetrySchedule | None = None,
        password_retention: dt.timedelta = DEFAULT_PASSWORD_RETENTION,
        clock: Clock | None = None,
    ) -> None:
        self.request_ids = request_ids
        self.products = RecentProducts(products)
        self.queries = AccountQueries(store, self.products)
        self.guard = AccountGuard(store, replica_id, lease_ttl, clock=clock)
        self.provisioner = Provisioner(
            store, box, clients, schedule=retry_schedule, password_retention=password_retention, clock=clock
        )
        self.commands = AccountCommands(self.queries, self.products, self.provisioner, clients, clock=clock)
        self.exclusive = Exclusive(self.queries, self.guard, request_ids)
        self.orders = Orders(
            store,
            self.queries,
            self.products,
            self.provisioner,
            self.commands,
            self.guard,
            self.exclusive,
            request_ids,
            clock=clock,
        )
        self.sweeper = Sweeper(store, self.queries, self.commands, self.guard, clock=clock)

    @property
    def replica_id(self) -> str:
        return self.guard.owner
