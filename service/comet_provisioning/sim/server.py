"""`CometSimulator`: start and stop a simulated Comet Server in-process.

Connections are counted at the TCP level (the aiohttp server's connection_made / connection_lost
hooks), not per request, so a test can check that a client's pool really holds at most N sockets.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .app import build_app
from .behaviour import Behaviour, resolve_behaviour
from .context import DEFAULT_INSTALLER_SIZE, SimContext, SimSettings
from .control import state_snapshot
from .counters import Counters
from .faults import Faults
from .state import SimState
from .versions import DEFAULT_VERSION

__all__ = ["CometSimulator"]


class CometSimulator:
    """A simulated Comet Server on a real loopback port.

    `state`, `faults` and `counters` are live objects: change them between (or during) calls.
    """

    def __init__(
        self,
        *,
        admin_user: str = "admin",
        admin_password: str = "admin-password",  # noqa: S107 - a test double's well-known default
        version: str | None = None,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        installer_size: int = DEFAULT_INSTALLER_SIZE,
        seed: int | None = None,
        state_file: str | Path | None = None,
        totp_required: bool = False,
        behaviour: str | Behaviour | None = None,
    ) -> None:
        """`behaviour`: a profile name (see `BEHAVIOUR_PROFILES`) or a `Behaviour`; default reference.
        `version` overrides the profile's; without either the simulator presents DEFAULT_VERSION."""
        chosen = resolve_behaviour(behaviour)
        self.state = SimState(version=version or chosen.version or DEFAULT_VERSION, seed=seed)
        self.state.add_admin(admin_user, admin_password, totp_required=totp_required)
        self.admin_user = admin_user
        self.admin_password = admin_password
        self.faults = Faults(seed, latency_ms=latency_ms, jitter_ms=jitter_ms)
        self.counters = Counters()
        self.settings = SimSettings(installer_size=installer_size, installer_seed=seed or 0)
        self.state_file = Path(state_file) if state_file is not None else None
        if self.state_file is not None and self.state_file.exists():
            self.state.load(self.state_file)
            self.state.add_admin(admin_user, admin_password, totp_required=totp_required)
        self._context = SimContext(self.state, self.faults, self.counters, self.settings)
        self._context.apply_behaviour(chosen, with_version=False)
        self._runner: web.AppRunner | None = None
        self.base_url: str | None = None

    @property
    def context(self) -> SimContext:
        return self._context

    @property
    def behaviour(self) -> Behaviour:
        """How this server answers where the contract leaves the reply open."""
        return self._context.behaviour

    def set_behaviour(self, behaviour: str | Behaviour | None = None, **overrides: Any) -> Behaviour:
        """Select a profile (name or object; None keeps the current one) and/or change switches.

        A selected profile's Comet version is presented too, as is `version=` among the overrides.
        """
        base = self._context.behaviour if behaviour is None else behaviour
        chosen = resolve_behaviour(base, overrides)
        self._context.apply_behaviour(chosen, with_version=behaviour is not None or "version" in overrides)
        return chosen

    def admin_form(self) -> dict[str, str]:
        """The auth fields for this simulator's admin, to merge into a request body."""
        return {"Username": self.admin_user, "AuthType": "Password", "Password": self.admin_password}

    def _track_connections(self, server: web.Server) -> None:
        counters = self.counters
        made = server.connection_made
        lost = server.connection_lost

        def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
            counters.connection_opened()
            made(handler, transport)

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            counters.connection_closed()
            lost(handler, exc)

        # Instance attributes shadow the methods the request handlers call on their manager.
        setattr(server, "connection_made", connection_made)  # noqa: B010
        setattr(server, "connection_lost", connection_lost)  # noqa: B010

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 picks a free port); returns the base URL, e.g. http://127.0.0.1:5xxxx."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        context = self.context
        context.stopping = asyncio.Event()
        runner = web.AppRunner(build_app(context), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        assert runner.server is not None
        self._track_connections(runner.server)
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses[0]
        url_host = f"[{bound[0]}]" if ":" in str(bound[0]) else str(bound[0])
        self.base_url = f"http://{url_host}:{bound[1]}"
        return self.base_url

    async def stop(self) -> None:
        """Stop listening, end hung requests, close connections, and persist state if configured."""
        if self._runner is None:
            return
        self.context.stopping.set()
        runner, self._runner = self._runner, None
        await runner.cleanup()
        if self.state_file is not None:
            self.state.save(self.state_file)

    async def __aenter__(self) -> CometSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def url(self, endpoint: str) -> str:
        """The full URL of an admin endpoint, e.g. url("add-user")."""
        if self.base_url is None:
            raise RuntimeError("simulator not started")
        return f"{self.base_url}/api/v1/admin/{endpoint}"

    def __repr__(self) -> str:
        name = self.behaviour.preset_name() or "custom"
        return (
            f"CometSimulator(version={self.state.version.text!r}, behaviour={name!r}, "
            f"base_url={self.base_url!r})"
        )

    def snapshot(self, *, profiles: bool = True) -> dict[str, Any]:
        """The same JSON view of the data that `GET /__sim__/state` returns."""
        return state_snapshot(self.state, profiles=profiles)
