"""Server groups: CRUD with field-mask updates; a group is deleted only when nothing uses it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from .clock import utcnow
from .crud import Crud, Written, in_use, new_id
from .errors import Violations
from .models import ServerGroup, ServerGroupSpec
from .mutations import Mutation, Mutations
from .server_fields import check_group
from .server_masks import group_leaves, merge_group
from .unit_of_work import Store, UnitOfWork

__all__ = ["ServerGroups"]

Encode = Callable[[ServerGroup], bytes]


class ServerGroups:
    def __init__(self, store: Store, mutations: Mutations) -> None:
        self._crud = Crud[ServerGroup](
            store,
            mutations,
            lambda uow: uow.server_groups,
            noun="server_group",
            name_field="name",
            list_method="ListServerGroups",
        )

    async def _check(self, uow: UnitOfWork, spec: ServerGroupSpec, *, group_id: str = "") -> tuple[str, str]:
        violations = Violations()
        name, rule = check_group(spec, violations)
        violations.raise_if_any()
        await self._crud.check_name(uow, name, other_than=group_id)
        return name, rule

    async def create(self, spec: ServerGroupSpec, mutation: Mutation, encode: Encode) -> Written[ServerGroup]:
        async def build(uow: UnitOfWork) -> ServerGroup:
            name, rule = await self._check(uow, spec)
            now = utcnow()
            return ServerGroup(
                id=new_id(),
                name=name,
                placement_rule=rule,
                failover=spec.failover,
                create_time=now,
                update_time=now,
            )

        return await self._crud.create(mutation, build, encode)

    async def get(self, group_id: str) -> ServerGroup:
        return await self._crud.one(group_id)

    async def page(self, page_size: int, page_token: str) -> tuple[list[ServerGroup], str]:
        return await self._crud.page(
            page_size,
            page_token,
            lambda uow, offset, limit: uow.server_groups.page(offset=offset, limit=limit),
        )

    async def update(
        self, group_id: str, spec: ServerGroupSpec, mask: Sequence[str], mutation: Mutation, encode: Encode
    ) -> Written[ServerGroup]:
        leaves = group_leaves(mask)

        async def merge(uow: UnitOfWork, current: ServerGroup) -> ServerGroup:
            merged = merge_group(current, spec, leaves)
            name, rule = await self._check(uow, merged, group_id=group_id)
            return dataclasses.replace(
                current, name=name, placement_rule=rule, failover=merged.failover, update_time=utcnow()
            )

        return await self._crud.update(mutation, group_id, merge, encode, field="server_group.id")

    async def delete(self, group_id: str, mutation: Mutation) -> None:
        async def still_used(uow: UnitOfWork, group: ServerGroup) -> None:
            used_by = await uow.server_groups.products_using(group_id)
            if used_by:
                raise in_use(
                    "SERVER_GROUP_IN_USE",
                    f"{used_by} product(s) place accounts through server group {group_id!r};"
                    " change them first",
                    server_group_id=group_id,
                    product_count=str(used_by),
                )
            live = await uow.server_groups.live_accounts(group_id)
            if live:
                raise in_use(
                    "SERVER_GROUP_HAS_ACCOUNTS",
                    f"the servers of group {group_id!r} still hold {live} account(s)",
                    server_group_id=group_id,
                    account_count=str(live),
                )

        await self._crud.delete(mutation, group_id, still_used)
