"""What servers and server groups need from persistence, and the domain errors a write can meet
when a concurrent writer got there first (a repository never lets a storage error through)."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from .models import Server, ServerGroup

__all__ = ["NameTaken", "ServerGroupRepository", "ServerRepository", "UnknownServerGroup"]


class NameTaken(Exception):
    """Another record of the same kind holds this name (the names are unique)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the name {name!r} is taken")
        self.name = name


class UnknownServerGroup(Exception):
    """The record names a server group that does not exist (any longer)."""

    def __init__(self, group_id: str) -> None:
        super().__init__(f"no server group {group_id!r}")
        self.group_id = group_id


class ServerRepository(Protocol):
    async def get(self, server_id: str, *, lock: bool = False) -> Server | None:
        """`lock` holds the server's row to the end of the transaction."""
        ...

    async def page(self, *, group_id: str | None, offset: int, limit: int) -> list[Server]:
        """By group, then placement order (in one group: its placement order)."""
        ...

    async def name_taken(self, name: str, *, other_than: str = "") -> bool: ...

    async def add(self, server: Server) -> None:
        """NameTaken, UnknownServerGroup."""
        ...

    async def replace(self, server: Server) -> None:
        """Every stored field but its id and creation time; NameTaken, UnknownServerGroup."""
        ...

    async def record_version(self, server_id: str, version: str, when: dt.datetime) -> None:
        """What the server said it runs (meta/version), nothing else of it touched."""
        ...

    async def live_accounts(self, server_id: str) -> int:
        """Its accounts not terminated."""
        ...

    async def remove(self, server_id: str) -> None:
        """Deletes the server; its terminated accounts forget it. The caller holds its lock and
        has made sure no live account is on it."""
        ...


class ServerGroupRepository(Protocol):
    async def get(self, group_id: str, *, lock: bool = False) -> ServerGroup | None: ...

    async def page(self, *, offset: int, limit: int) -> list[ServerGroup]:
        """By name."""
        ...

    async def name_taken(self, name: str, *, other_than: str = "") -> bool: ...

    async def add(self, group: ServerGroup) -> None:
        """NameTaken."""
        ...

    async def replace(self, group: ServerGroup) -> None:
        """NameTaken."""
        ...

    async def products_using(self, group_id: str) -> int: ...

    async def live_accounts(self, group_id: str) -> int:
        """The accounts not terminated on the group's servers."""
        ...

    async def remove(self, group_id: str) -> None:
        """Deletes the group; its servers leave it. The caller holds its lock and has made sure
        no product uses it."""
        ...
