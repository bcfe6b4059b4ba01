"""The event loop `serve` runs on: uvloop by default where installed, asyncio's own on request, and
a clear refusal for anything else. The service answers the same on either."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from comet_provisioning import event_loop
from comet_provisioning.config import ConfigError
from comet_provisioning_client import ProvisioningClient
from comet_provisioning_client.v1 import servers_pb2

from tests.fixtures.service import free_port, service_env
from tests.startup.support import fatal_line, json_lines, run, serving

UVLOOP_INSTALLED = importlib.util.find_spec("uvloop") is not None


@pytest.mark.parametrize(
    ("setting", "expected"),
    [(None, "uvloop" if UVLOOP_INSTALLED else "asyncio"), ("asyncio", "asyncio")],
)
async def test_serve_runs_on_the_chosen_loop_and_answers(
    tmp_path: Path, setting: str | None, expected: str
) -> None:
    listen = f"127.0.0.1:{free_port()}"
    extra = {"COMET_PROVISIONING_LISTEN": listen}
    if setting is not None:
        extra["COMET_PROVISIONING_EVENT_LOOP"] = setting
    with serving([], service_env(tmp_path, **extra), tmp_path) as log_path:
        async with ProvisioningClient(listen) as client:
            made = await client.call(
                client.servers.CreateServerGroup,
                servers_pb2.CreateServerGroupRequest(server_group=servers_pb2.ServerGroup(name="eu")),
            )
            listed = await client.call(client.servers.ListServerGroups, servers_pb2.ListServerGroupsRequest())
        assert [group.id for group in listed.server_groups] == [made.server_group.id]
        started = [line for line in json_lines(log_path.read_text()) if line["message"] == "serving"]
        assert [line["event_loop"] for line in started] == [expected]


def test_an_unknown_event_loop_exits_2_naming_the_setting(tmp_path: Path) -> None:
    done = run(["serve"], service_env(tmp_path, COMET_PROVISIONING_EVENT_LOOP="trio"), tmp_path)
    assert done.returncode == 2
    assert fatal_line(done)["message"] == ("setting 'event_loop': 'trio' is not one of auto, uvloop, asyncio")


def test_uvloop_asked_for_but_not_installed_is_refused_and_auto_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="uvloop is not installed"):
        event_loop.resolve("uvloop")
    assert event_loop.resolve("auto") == "asyncio"
