"""Job history endpoints: one user's jobs and a search-clause query over all jobs."""

from __future__ import annotations

from typing import Any

from ..search import SearchError, matches, validate
from .base import CallContext, CometError, Handler

__all__ = ["HANDLERS"]


async def jobs_for_user(ctx: CallContext) -> Any:
    record = ctx.target_user()
    return ctx.collection(list(ctx.state.jobs_by_user.get(record.username, [])))


async def jobs_for_custom_search(ctx: CallContext) -> Any:
    query = ctx.json_object_param("Query")
    try:
        validate(query)
        return ctx.collection([job for job in ctx.state.jobs if matches(job, query)])
    except SearchError as exc:
        raise CometError(400, f"Invalid search query: {exc}") from None


HANDLERS: dict[str, Handler] = {
    "get-jobs-for-user": jobs_for_user,
    "get-jobs-for-custom-search": jobs_for_custom_search,
}
