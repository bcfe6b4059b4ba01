"""The per-RPC access line ("rpc finished"): every change and every failure at INFO, successful
reads only at DEBUG (they are most of the traffic and change nothing)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
import pytest
from comet_provisioning_client.v1 import servers_pb2

from tests.fixtures.logs import log_capture
from tests.security.conftest import Stubs, bearer


@contextmanager
def captured(level: int) -> Iterator[list[dict[str, object]]]:
    """The service's log lines at `level` and above, parsed once the block ends."""
    lines: list[dict[str, object]] = []
    with log_capture(level, logger="comet_provisioning") as stream:
        yield lines
    lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def finished(lines: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(line["rpc"], line["code"]) for line in lines if line["message"] == "rpc finished"]


async def _traffic(service: Stubs) -> None:
    admin = bearer("admin")
    await service.servers.ListServerGroups(servers_pb2.ListServerGroupsRequest(), metadata=admin)
    group = servers_pb2.ServerGroup(name="logs")
    await service.servers.CreateServerGroup(
        servers_pb2.CreateServerGroupRequest(server_group=group), metadata=admin
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await service.servers.GetServer(servers_pb2.GetServerRequest(id="srv-missing"), metadata=admin)


async def test_at_info_reads_that_succeed_are_not_logged_changes_and_failures_are(service: Stubs) -> None:
    with captured(logging.INFO) as lines:
        await _traffic(service)
    assert finished(lines) == [
        ("/comet.provisioning.v1.ServerService/CreateServerGroup", "OK"),
        ("/comet.provisioning.v1.ServerService/GetServer", "NOT_FOUND"),
    ]


async def test_at_debug_every_call_is_logged(service: Stubs) -> None:
    with captured(logging.DEBUG) as lines:
        await _traffic(service)
    assert finished(lines) == [
        ("/comet.provisioning.v1.ServerService/ListServerGroups", "OK"),
        ("/comet.provisioning.v1.ServerService/CreateServerGroup", "OK"),
        ("/comet.provisioning.v1.ServerService/GetServer", "NOT_FOUND"),
    ]


async def test_each_line_carries_the_callers_request_id_or_a_distinct_generated_one(service: Stubs) -> None:
    admin = bearer("admin")
    with captured(logging.DEBUG) as lines:
        for _ in range(3):
            await service.servers.ListServerGroups(servers_pb2.ListServerGroupsRequest(), metadata=admin)
        await service.servers.ListServerGroups(
            servers_pb2.ListServerGroupsRequest(), metadata=(*admin, ("x-request-id", "trace-42"))
        )
    ids = [line["request_id"] for line in lines if line["message"] == "rpc finished"]
    assert ids[3] == "trace-42"
    generated = ids[:3]
    assert len(set(generated)) == 3
    assert all(isinstance(rid, str) and len(rid) >= 16 for rid in generated)
