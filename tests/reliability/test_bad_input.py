"""Bad input: every RPC of the three services, fuzzed with random and malformed requests.

Properties, per call: never UNKNOWN or INTERNAL (nor a hang), the server still SERVING afterwards,
and a rejected call leaves the accounts/servers/groups/products/idempotency tables as they were.
One seeded world serves the whole module; hypothesis runs each method's examples in a worker
thread while the service answers in the module's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from google.protobuf.descriptor import MethodDescriptor

from tests.reliability.fuzz import Fuzzer, methods
from tests.reliability.support import World, seeded_world

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXAMPLES_PER_METHOD = 25


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fuzz_world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with seeded_world(tmp_path_factory.mktemp("fuzz")) as world:
        yield world


@pytest.fixture(scope="module")
def fuzzer(fuzz_world: World) -> Iterator[Fuzzer]:
    assert fuzz_world.db_path is not None
    fuzzer = Fuzzer(
        fuzz_world.address,
        fuzz_world.db_path,
        fuzz_world.known,
        hidden_product_id=fuzz_world.hidden_product_id,
    )
    yield fuzzer
    fuzzer.close()


async def test_every_method_is_fuzzed() -> None:
    names = {m.name for m in methods()}
    assert len(names) >= 34
    assert {"CreateAccount", "DownloadClient", "UpdateServer"} <= names


@pytest.mark.parametrize("method", methods(), ids=lambda m: m.name)
async def test_bad_input(fuzzer: Fuzzer, method: MethodDescriptor) -> None:
    await asyncio.to_thread(fuzzer.fuzz, method, EXAMPLES_PER_METHOD)
    assert fuzzer.stats.per_method[method.name].total() >= EXAMPLES_PER_METHOD
