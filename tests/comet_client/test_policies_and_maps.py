"""``policies/get`` answers "no such policy" in many ways; empty maps and lists may come as ``null``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from comet_provisioning.comet import (
    CometAuthFailed,
    CometClient,
    CometError,
    CometLockedOut,
    CometNotCometServer,
    CometTimeout,
    CometUnreachable,
    ConnectFailed,
    PolicyAndHash,
    TransportTimeout,
)

from tests.fakes.memory_comet import MemoryComet

from .conftest import CometFactory
from .support import carm, memory_client

POLICY = {"Description": "Product 7", "Policy": {"PreventDeleteStorageVault": True}}

ABSENT = [
    ("200_empty_hash", {**carm(), "Policy": {}, "PolicyHash": ""}, 200),
    ("200_no_hash", carm(), 200),
    ("400", carm(400, "Policy not found"), 200),
    ("400_translated", carm(400, "Richtlinie nicht gefunden"), 200),
    ("500_in_body", carm(500, "ERR_POLICY_NOT_FOUND"), 200),
    ("http_404_json", {"Message": "no"}, 404),
]


@pytest.mark.parametrize(("reply", "status"), [a[1:] for a in ABSENT], ids=[a[0] for a in ABSENT])
async def test_any_reply_without_a_policy_hash_is_absent(
    reply: dict[str, Any], status: int, comet: MemoryComet
) -> None:
    comet.reply("policies/get", reply, status=status)
    async with memory_client(comet) as client:
        assert await client.get_policy("pol-7") is None
    assert comet.calls("policies/get") == 1


async def test_a_403_when_the_credentials_work_is_absent_too(comet: MemoryComet) -> None:
    comet.reply("policies/get", carm(403, "Forbidden"))
    async with memory_client(comet, credentials_proof_s=0) as client:
        assert await client.get_policy("pol-7") is None
    assert comet.calls("meta/version") == 1


async def test_a_present_policy(comet: MemoryComet) -> None:
    comet.reply("policies/get", {**carm(), "Policy": POLICY, "PolicyHash": "ph"})
    async with memory_client(comet) as client:
        assert await client.get_policy("pol-7") == PolicyAndHash(POLICY, "ph")


FAILURES: list[tuple[str, Callable[[MemoryComet], None], type[CometError]]] = [
    (
        "bad_credentials",
        lambda f: (
            f.reply("policies/get", carm(403, "Unauthorised")),
            f.reply("meta/version", carm(403, "x")),
        ),
        CometAuthFailed,
    ),
    ("lockout", lambda f: f.reply("policies/get", carm(429, "ERR_LOGIN_LOCKED"), times=None), CometLockedOut),
    (
        "proxy_502",
        lambda f: f.reply(
            "policies/get", body=b"<html>502</html>", content_type="text/html", status=502, times=None
        ),
        CometNotCometServer,
    ),
    (
        "http_500_json",
        lambda f: f.reply("policies/get", carm(500, "oops"), status=500, times=None),
        CometError,
    ),
    ("unreachable", lambda f: f.fail("policies/get", ConnectFailed("refused"), times=None), CometUnreachable),
    ("timeout", lambda f: f.fail("policies/get", TransportTimeout("slow"), times=None), CometTimeout),
]


@pytest.mark.parametrize(("script", "error"), [f[1:] for f in FAILURES], ids=[f[0] for f in FAILURES])
async def test_credentials_lockouts_and_passing_faults_still_raise(
    script: Callable[[MemoryComet], None], error: type[CometError], comet: MemoryComet
) -> None:
    script(comet)
    async with memory_client(comet, max_retries=1, credentials_proof_s=0) as client:
        with pytest.raises(error):
            await client.get_policy("pol-7")


async def test_list_policies_full(comet: MemoryComet) -> None:
    comet.reply("policies/list-full", {"p1": POLICY, "p2": {**POLICY, "Description": "Two"}})
    async with memory_client(comet) as client:
        policies = await client.list_policies_full()
    assert policies == {"p1": POLICY, "p2": {**POLICY, "Description": "Two"}}
    assert "TargetOrganization" not in comet.sent("policies/list-full")[0]


Call = Callable[[CometClient], Awaitable[Any]]

NULLABLE: list[tuple[str, Call, Any]] = [
    ("list-users", lambda c: c.list_users(), []),
    ("list-users-full", lambda c: c.list_users_full(), {}),
    ("dispatcher/list-active", lambda c: c.list_active_connections(), {}),
    ("policies/list", lambda c: c.list_policies(), {}),
    ("policies/list-full", lambda c: c.list_policies_full(), {}),
    ("request-storage-vault-providers", lambda c: c.list_storage_providers(), {}),
    ("get-jobs-for-user", lambda c: c.get_jobs_for_user("alice"), []),
    ("get-jobs-for-custom-search", lambda c: c.get_jobs_for_custom_search({}), []),
]


@pytest.mark.parametrize(("endpoint", "call", "empty"), NULLABLE, ids=[n[0] for n in NULLABLE])
async def test_null_is_an_empty_map_or_list(
    endpoint: str, call: Call, empty: Any, comet: MemoryComet
) -> None:
    comet.reply(endpoint, body=b"null")
    async with memory_client(comet) as client:
        assert await call(client) == empty


async def test_null_filtered_connections_on_an_old_server(make_comet: CometFactory) -> None:
    comet = make_comet(version="20.9.0")
    comet.reply("dispatcher/list-active", body=b"null")
    async with memory_client(comet) as client:
        assert await client.list_active_connections("alice") == {}


@pytest.mark.parametrize("endpoint", ["policies/list", "list-users-full"])
async def test_a_list_where_a_map_belongs_is_not_comet(endpoint: str, comet: MemoryComet) -> None:
    comet.reply(endpoint, ["not", "a", "map"])
    async with memory_client(comet) as client:
        with pytest.raises(CometNotCometServer):
            await (client.list_policies() if endpoint == "policies/list" else client.list_users_full())
