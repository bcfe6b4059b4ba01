"""What servers, server groups and products share: one record by id (NOT_FOUND naming it), pages
of records, a unique name (ALREADY_EXISTS), and creates, updates and deletes that run once per
request id, in one transaction with its record."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from .errors import ErrorKind, ServiceError, Violations, invalid_field, not_found
from .mutations import Mutation, Mutations
from .pagination import decode_page
from .server_repository import NameTaken, UnknownServerGroup
from .unit_of_work import Store, UnitOfWork

__all__ = ["Crud", "Records", "Written", "in_use", "new_id"]

R = TypeVar("R")


def new_id() -> str:
    return uuid.uuid4().hex


def in_use(reason: str, message: str, **metadata: str) -> ServiceError:
    """A record something still depends on (a delete's refusal)."""
    return ServiceError(ErrorKind.FAILED_PRECONDITION, reason, message, metadata=metadata)


class Records(Protocol[R]):
    """The repository shape the three share (see server_repository, product_repository)."""

    async def get(self, record_id: str, *, lock: bool = False) -> R | None: ...

    async def name_taken(self, name: str, *, other_than: str = "") -> bool: ...

    async def add(self, record: R) -> None: ...

    async def replace(self, record: R) -> None: ...

    async def remove(self, record_id: str) -> None: ...


@dataclass(frozen=True)
class Written(Generic[R]):
    """A write's response, and what this call wrote: None when it replayed a recorded outcome."""

    response: bytes
    before: R | None = None
    after: R | None = None


class Crud(Generic[R]):
    def __init__(
        self,
        store: Store,
        mutations: Mutations,
        records: Callable[[UnitOfWork], Records[R]],
        *,
        noun: str,
        name_field: str,
        list_method: str,
        group_field: str = "",
    ) -> None:
        """`noun`: how errors name the kind ("server_group"); `name_field`: the field holding
        its unique name; `list_method` binds page tokens to their list; `group_field`: the field
        naming its server group, if it has one."""
        self.store = store
        self._mutations = mutations
        self._records = records
        self._noun = noun
        self._name_field = name_field
        self._list_method = list_method
        self._group_field = group_field

    async def get(self, uow: UnitOfWork, record_id: str, *, lock: bool = False, field: str = "id") -> R:
        if not record_id:
            raise invalid_field(field, "required")
        record = await self._records(uow).get(record_id, lock=lock)
        if record is None:
            raise not_found(self._noun, record_id)
        return record

    async def one(self, record_id: str, *, field: str = "id") -> R:
        """A record read on its own."""
        async with self.store.read_one() as uow:
            return await self.get(uow, record_id, field=field)

    async def page(
        self,
        page_size: int,
        page_token: str,
        fetch: Callable[[UnitOfWork, int, int], Awaitable[list[R]]],
        *scope: str,
    ) -> tuple[list[R], str]:
        """A page of `fetch(uow, offset, limit)`, and the token of the next ("" after the last);
        `scope`: the list's filters, which a token is bound to."""
        page = decode_page(page_size, page_token, self._list_method, *scope)
        async with self.store.read() as uow:
            found = await fetch(uow, page.offset, page.fetch)
        return found[: page.size], page.next_token(len(found))

    def name_taken(self, name: str) -> ServiceError:
        return ServiceError(
            ErrorKind.ALREADY_EXISTS,
            f"{self._noun.upper()}_ALREADY_EXISTS",
            f"a {self._noun.replace('_', ' ')} named {name!r} already exists",
            metadata={self._name_field: name},
        )

    async def check_name(self, uow: UnitOfWork, name: str, *, other_than: str = "") -> None:
        if await self._records(uow).name_taken(name, other_than=other_than):
            raise self.name_taken(name)

    async def _store(self, write: Callable[[R], Awaitable[None]], record: R) -> None:
        """`write(record)`, a concurrent writer's win reported as the checks would have."""
        try:
            await write(record)
        except NameTaken as taken:
            raise self.name_taken(taken.name) from taken
        except UnknownServerGroup as gone:
            violations = Violations()
            violations.add(self._group_field, f"no server group {gone.group_id!r}")
            violations.raise_if_any()

    async def create(
        self, mutation: Mutation, build: Callable[[UnitOfWork], Awaitable[R]], encode: Callable[[R], bytes]
    ) -> Written[R]:
        """`build` checks the request and makes the new record; it is stored and encoded."""
        made: list[tuple[R, bytes]] = []

        async def work(uow: UnitOfWork) -> bytes:
            record = await build(uow)
            await self._store(self._records(uow).add, record)
            made.append((record, encode(record)))
            return made[-1][1]

        response = await self._mutations.run(mutation, work)
        return Written(response, after=_ours(made, response))

    async def update(
        self,
        mutation: Mutation,
        record_id: str,
        merge: Callable[[UnitOfWork, R], Awaitable[R]],
        encode: Callable[[R], bytes],
        *,
        field: str,
    ) -> Written[R]:
        """`merge(uow, stored)` makes the updated record (the stored one is locked meanwhile);
        `field` names the request's id field."""
        made: list[tuple[R, bytes]] = []
        before: list[R] = []

        async def work(uow: UnitOfWork) -> bytes:
            current = await self.get(uow, record_id, lock=True, field=field)
            updated = await merge(uow, current)
            await self._store(self._records(uow).replace, updated)
            before.append(current)
            made.append((updated, encode(updated)))
            return made[-1][1]

        response = await self._mutations.run(mutation, work)
        after = _ours(made, response)
        return Written(response, before=before[-1] if after is not None else None, after=after)

    async def delete(
        self, mutation: Mutation, record_id: str, in_use: Callable[[UnitOfWork, R], Awaitable[None]]
    ) -> None:
        """`in_use` raises if something still depends on the record (it is locked meanwhile)."""

        async def work(uow: UnitOfWork) -> bytes:
            record = await self.get(uow, record_id, lock=True)
            await in_use(uow, record)
            await self._records(uow).remove(record_id)
            return b""  # the empty response message

        await self._mutations.run(mutation, work)


def _ours(made: list[tuple[R, bytes]], response: bytes) -> R | None:
    """The record this call's work wrote, if its response is the one returned (a twin of the
    request that won instead, or a replay, returns another)."""
    if made and made[-1][1] == response:
        return made[-1][0]
    return None
