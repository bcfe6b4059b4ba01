"""The registry keeps one client per server and replaces it when its settings change."""

from __future__ import annotations

import asyncio

import pytest
from comet_provisioning.comet import CometClient, CometClientClosed, CometClientRegistry, CometServerConfig
from comet_provisioning.sim import CometSimulator

from .support import ADMIN, ADMIN_PASSWORD, make_config


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_same_config_same_client() -> None:
    registry = CometClientRegistry()
    first = await registry.get(make_config())
    second = await registry.get(make_config())
    assert first is second
    assert len(registry) == 1
    await registry.aclose()


async def test_changed_config_replaces_and_closes_the_old_client() -> None:
    registry = CometClientRegistry(close_grace_s=0)
    old = await registry.get(make_config())
    new = await registry.get(make_config(password="rotated-password-1"))
    await settle()
    assert new is not old
    assert old.closed
    assert not new.closed
    assert await registry.get(make_config(password="rotated-password-1")) is new
    await registry.aclose()


async def test_concurrent_gets_create_one_client() -> None:
    created: list[CometServerConfig] = []

    def factory(config: CometServerConfig) -> CometClient:
        created.append(config)
        return CometClient(config)

    registry = CometClientRegistry(factory=factory)
    clients = await asyncio.gather(*(registry.get(make_config()) for _ in range(50)))
    assert len({id(c) for c in clients}) == 1
    assert len(created) == 1
    await registry.aclose()


async def test_separate_servers_get_separate_clients() -> None:
    registry = CometClientRegistry()
    a = await registry.get(make_config(server_id="a"))
    b = await registry.get(make_config(server_id="b"))
    assert a is not b
    assert "a" in registry
    await registry.remove("a")
    await settle()
    assert a.closed
    assert "a" not in registry
    await registry.aclose()
    assert b.closed
    with pytest.raises(RuntimeError):
        await registry.get(make_config(server_id="b"))


async def test_calls_on_a_replaced_client_fail_retryably() -> None:
    registry = CometClientRegistry(close_grace_s=0)
    old = await registry.get(make_config())
    await registry.get(make_config(max_connections=3))
    await settle()
    with pytest.raises(CometClientClosed) as caught:
        await old.list_users()
    assert caught.value.retryable
    assert not caught.value.reached_server
    await registry.aclose()


def test_fingerprint_tracks_every_field() -> None:
    base = make_config()
    assert base.fingerprint() == make_config().fingerprint()
    assert base.fingerprint() != make_config(password="other-password").fingerprint()
    assert base.fingerprint() != make_config(verify_tls=False).fingerprint()
    assert base.fingerprint() != make_config(base_url="https://comet.test").fingerprint()
    assert "Adm1n" not in base.fingerprint()


@pytest.mark.parametrize(
    "bad",
    [
        {"base_url": "ftp://x"},
        {"base_url": "http://user:pw@host"},
        {"base_url": "http://host/?q=1"},
        {"max_connections": 0},
        {"request_timeout_s": 0},
        {"server_id": ""},
    ],
)
def test_config_validation(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        make_config(**bad)


def test_base_url_is_normalised() -> None:
    config = make_config(base_url="https://comet.example/comet/")
    assert config.admin_url("meta/version") == "https://comet.example/comet/api/v1/admin/meta/version"


async def test_a_client_closed_behind_the_registrys_back_is_recreated() -> None:
    registry = CometClientRegistry()
    first = await registry.get(make_config())
    await first.aclose()
    second = await registry.get(make_config())
    assert second is not first
    assert not second.closed
    await registry.aclose()


async def test_server_info_is_reported_with_the_server_id() -> None:
    # The registry's own clients (its default factory) over loopback, to two servers.
    heard: list[tuple[str, str]] = []
    registry = CometClientRegistry(
        on_server_info=lambda server_id, info: heard.append((server_id, str(info.version)))
    )
    async with (
        CometSimulator(admin_user=ADMIN, admin_password=ADMIN_PASSWORD, version="22.3.7") as old,
        CometSimulator(admin_user=ADMIN, admin_password=ADMIN_PASSWORD, version="25.9.0") as new,
    ):
        a = await registry.get(make_config(server_id="a", base_url=old.base_url))
        b = await registry.get(make_config(server_id="b", base_url=new.base_url))
        await a.ensure_server_info()
        await b.ensure_server_info()
        await registry.aclose()
    assert heard == [("a", "22.3.7"), ("b", "25.9.0")]
