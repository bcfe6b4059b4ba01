"""Writes that ask Comet before they write (Mutations over RequestIds): the Comet check is skipped
when the request id already has an outcome, and one that fails because a twin of the request won
meanwhile yields to the twin; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from comet_provisioning.core.errors import ErrorKind, ServiceError
from comet_provisioning.core.mutations import Mutation, Mutations
from comet_provisioning.core.request_ids import RequestIds
from comet_provisioning.crypto import SecretBox, generate_key, load_key
from comet_provisioning.store import open_database, upgrade
from comet_provisioning.store.unit_of_work import SqlStore


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[tuple[Mutations, RequestIds]]:
    db = open_database(database_url)
    await upgrade(db)
    request_ids = RequestIds(SqlStore(db), SecretBox(load_key(generate_key(), "")))
    try:
        yield Mutations(request_ids), request_ids
    finally:
        await db.close()


def taken() -> ServiceError:
    return ServiceError(
        ErrorKind.ALREADY_EXISTS, "SERVER_ALREADY_EXISTS", "a server named 'x' already exists"
    )


async def test_a_recorded_outcome_skips_the_check(world: tuple[Mutations, RequestIds]) -> None:
    mutations, _ = world
    request = Mutation("/M", "req-1", b"body")
    checks: list[str] = []

    async def check() -> str:
        checks.append("asked Comet")
        return "tested"

    async def write(uow: object) -> bytes:
        return b"done"

    assert await mutations.unless_replayed(request, check) == "tested"
    assert await mutations.run(request, write) == b"done"
    assert await mutations.unless_replayed(request, check) is None  # replayed: Comet not asked again
    assert checks == ["asked Comet"]
    with pytest.raises(ServiceError) as reused:  # the same id for another request
        await mutations.unless_replayed(Mutation("/M", "req-1", b"other"), check)
    assert reused.value.reason == "REQUEST_ID_REUSED"
    with pytest.raises(ServiceError) as invalid:
        await mutations.unless_replayed(Mutation("/M", "bad id", b"body"), check)
    assert invalid.value.kind is ErrorKind.INVALID_ARGUMENT
    assert checks == ["asked Comet"]


async def test_a_check_that_fails_because_a_twin_won_yields_to_it(
    world: tuple[Mutations, RequestIds],
) -> None:
    mutations, request_ids = world
    request = Mutation("/M", "req-2", b"body")

    async def twin_wins_meanwhile() -> str:
        await request_ids.remember("/M", "req-2", request_ids.fingerprint("/M", b"body"), b"twin's")
        raise taken()  # the name the twin just took

    assert await mutations.unless_replayed(request, twin_wins_meanwhile) is None

    async def write(uow: object) -> bytes:
        raise AssertionError("a replay runs no work")

    assert await mutations.run(request, write) == b"twin's"

    async def fails_alone() -> str:
        raise taken()

    with pytest.raises(ServiceError) as failed:
        await mutations.unless_replayed(Mutation("/M", "req-3", b"body"), fails_alone)
    assert failed.value.reason == "SERVER_ALREADY_EXISTS"
