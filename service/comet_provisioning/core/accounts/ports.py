"""What the account lifecycle needs from outside, as small interfaces."""

from __future__ import annotations

from typing import Protocol

from comet_provisioning.comet import CometClient
from comet_provisioning.core.models import Product


class CometClients(Protocol):
    """The pooled Comet client of a registered server (NOT_FOUND if the server is gone), and
    whether the server is known to be unreachable (placement tries it last)."""

    async def client(self, server_id: str) -> CometClient: ...

    def cached(self, server_id: str) -> CometClient | None:
        """The server's client if this process holds one already (no I/O), else None."""
        ...

    def server_down(self, server_id: str) -> bool: ...


class Products(Protocol):
    async def product(self, product_id: str) -> Product:
        """NOT_FOUND when there is no such product."""
        ...
