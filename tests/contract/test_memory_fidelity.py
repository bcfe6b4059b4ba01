"""The simulator served in memory answers as it does on loopback: the same calls, the same outcomes.

The in-memory transport replaces only the socket, so whatever the client sees (results, error
classes, statuses, Comet's messages, streamed bytes) must be the same through either; only the
wording of a transport failure (aiohttp's or the fake's) may differ.
"""

from __future__ import annotations

import hashlib
from typing import Any

from comet_provisioning.comet import CometClient, CometError
from comet_provisioning.sim import CometSimulator

from .conftest import MemoryFactory, SimFactory
from .support import USER_PASSWORD, sim_client


async def outcome(call: Any) -> Any:
    try:
        return ("ok", await call)
    except CometError as error:
        message = error.message if error.http_status is not None else None  # the transport's words
        return (error.kind, error.http_status, error.api_status, message, error.reached_server)


async def download_digest(client: CometClient) -> tuple[str, int | None, str]:
    digest = hashlib.sha256()
    async with client.download_client("linuxgeneric") as download:
        async for chunk in download.iter_chunks():
            digest.update(chunk)
        return download.filename, download.size, digest.hexdigest()


async def what_a_client_sees(sim: CometSimulator) -> list[Any]:
    sim.settings.installer_size = 300_001
    seen: list[Any] = []
    async with sim_client(sim, max_retries=0) as client:
        seen.append((await client.meta_version()).version)
        seen.append(await outcome(client.add_user("alice01", USER_PASSWORD)))
        seen.append(await outcome(client.add_user("alice01", USER_PASSWORD)))
        seen.append(await outcome(client.add_user("bad name!", USER_PASSWORD)))
        seen.append(sorted((await client.get_user_profile("alice01")).keys()))
        seen.append(await outcome(client.get_user_profile("ghost01")))
        seen.append(await outcome(client.delete_user("ghost01")))
        seen.append(await outcome(client.list_users()))
        for kind in ("http502", "http500", "status500", "reset"):
            sim.faults.add("list-users", kind, count=1)
            seen.append(await outcome(client.list_users()))
        seen.append(await outcome(client.get_policy("no-such-policy")))
        seen.append(await download_digest(client))
        sim.set_behaviour(language="es", null_empty=True)
        seen.append(await outcome(client.get_user_profile("ghost01")))
        seen.append(await outcome(client.list_policies()))
    async with sim_client(sim, password="wrong-password-1") as intruder:
        seen.append(await outcome(intruder.list_users()))
    seen.append((sim.counters.calls, sim.counters.committed, sim.counters.auth_failures))
    return seen


async def test_in_memory_and_on_loopback_alike(
    make_sim: MemoryFactory, make_loopback_sim: SimFactory
) -> None:
    in_memory = await what_a_client_sees(await make_sim())
    on_loopback = await what_a_client_sees(await make_loopback_sim())
    assert in_memory == on_loopback
    assert in_memory[0] == "25.9.0"  # and they did make the calls
