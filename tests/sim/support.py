"""Test helpers: a form-posting admin client for the simulator and a simulator factory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from comet_provisioning.sim import CometSimulator

ADMIN = "admin"
ADMIN_PASSWORD = "admin-secret-1"


@dataclass
class Reply:
    http_status: int
    text: str
    headers: Any

    @property
    def body(self) -> Any:
        return json.loads(self.text)


class Api:
    """Posts form-encoded admin calls the way a Comet SDK does."""

    def __init__(self, sim: CometSimulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.auth = {"Username": ADMIN, "AuthType": "Password", "Password": ADMIN_PASSWORD}

    async def raw(self, endpoint: str, data: dict[str, str]) -> Reply:
        async with self.session.post(self.sim.url(endpoint), data=data) as resp:
            return Reply(resp.status, await resp.text(), resp.headers)

    async def call(self, endpoint: str, **params: Any) -> Reply:
        data = dict(self.auth)
        for key, value in params.items():
            data[key] = value if isinstance(value, str) else json.dumps(value)
        return await self.raw(endpoint, data)

    async def body(self, endpoint: str, **params: Any) -> Any:
        reply = await self.call(endpoint, **params)
        assert reply.http_status == 200, reply.text
        return reply.body

    async def add_user(self, username: str, password: str = "password-123", **params: Any) -> Any:
        return await self.body(
            "add-user", TargetUser=username, TargetPassword=password, StoreRecoveryCode="1", **params
        )


def make_sim(**kwargs: Any) -> CometSimulator:
    kwargs.setdefault("admin_user", ADMIN)
    kwargs.setdefault("admin_password", ADMIN_PASSWORD)
    kwargs.setdefault("seed", 1234)
    return CometSimulator(**kwargs)
