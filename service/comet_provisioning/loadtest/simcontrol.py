"""The control API (`/__sim__/`) of registered servers that are Comet Server simulators (the demo's,
CI's): a throwaway admin for --verify, foreign users seeded before a run, and what the simulator saw
(profile hashes, calls per user), which the admin API cannot tell.

A handful of small requests per run, so they go through the standard library in a worker thread;
a server that does not answer the control API is simply not a simulator.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from comet_provisioning_client.v1 import servers_pb2

from .credentials import CometCredentials

CONTROL_TIMEOUT_S = 30.0


class SimControlError(Exception):
    """A simulator's control API refused or failed a request the run depends on."""


def _request(url: str, body: Mapping[str, Any] | None, timeout_s: float) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is a registered server's http(s) base URL
        url, data=data, method="GET" if body is None else "POST"
    )
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout_s) as reply:  # noqa: S310 - as above
        return json.loads(reply.read() or b"null")


async def _call(url: str, body: Mapping[str, Any] | None = None, timeout_s: float = CONTROL_TIMEOUT_S) -> Any:
    return await asyncio.to_thread(_request, url, body, timeout_s)


def _control_url(base_url: str, path: str) -> str:
    return f"{base_url.rstrip('/')}/__sim__/{path}"


@dataclass
class SimControl:
    """server id -> base URL of each registered server that answers the simulator's control API."""

    urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    async def find(cls, servers: Iterable[servers_pb2.Server]) -> SimControl:
        found: dict[str, str] = {}
        for server in servers:
            try:
                reply = await _call(_control_url(server.base_url, "config"), timeout_s=10)
            except (OSError, ValueError, urllib.error.URLError):
                continue
            if isinstance(reply, dict) and "version" in reply:
                found[server.id] = server.base_url
        return cls(found)

    async def add_admin(self, run_id: str) -> list[CometCredentials]:
        """A throwaway admin for this run on each simulator, since the service keeps the registered
        admin password to itself."""
        password = secrets.token_urlsafe(18)
        username = f"loadtest-verify-{run_id}"
        found = []
        for url in self.urls.values():
            await self._post(url, "seed", {"admins": [{"username": username, "password": password}]})
            found.append(CometCredentials(url, username, password))
        return found

    async def seed(self, server_id: str, document: Mapping[str, Any]) -> None:
        """`POST /__sim__/seed` (users, vaults, ... as the simulator's seed_* methods take them)."""
        await self._post(self.urls[server_id], "seed", document)

    async def profile_hashes(self, server_id: str) -> dict[str, str]:
        return await self._users_field(server_id, "ProfileHash")

    async def passwords(self, server_id: str) -> dict[str, str]:
        """Each user's password (a simulator keeps them in clear): is it what the caller was given?"""
        return await self._users_field(server_id, "Password")

    async def _users_field(self, server_id: str, key: str) -> dict[str, str]:
        state = await _call(_control_url(self.urls[server_id], "state?profiles=0"))
        return {name: str(user.get(key, "")) for name, user in state.get("Users", {}).items()}

    async def counters(self, server_id: str) -> dict[str, Any]:
        reply = await _call(_control_url(self.urls[server_id], "counters"))
        return dict(reply)

    async def _post(self, base_url: str, path: str, body: Mapping[str, Any]) -> Any:
        try:
            return await _call(_control_url(base_url, path), body)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            raise SimControlError(f"the simulator at {base_url} refused {path}: {exc}") from exc
