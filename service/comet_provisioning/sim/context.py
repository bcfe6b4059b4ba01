"""The simulator's shared parts, as the aiohttp application sees them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .behaviour import Behaviour
from .counters import Counters
from .faults import Faults
from .state import SimState

__all__ = ["DEFAULT_INSTALLER_SIZE", "SIM_KEY", "SimContext", "SimSettings"]

DEFAULT_INSTALLER_SIZE = 1024 * 1024


@dataclass
class SimSettings:
    """Knobs that are neither data nor faults."""

    installer_size: int = DEFAULT_INSTALLER_SIZE
    installer_seed: int = 0
    installer_chunk_size: int = 64 * 1024


@dataclass
class SimContext:
    state: SimState
    faults: Faults
    counters: Counters
    settings: SimSettings = field(default_factory=SimSettings)
    behaviour: Behaviour = field(default_factory=Behaviour)
    # Set when the simulator stops, so hung requests end promptly instead of holding shutdown.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def apply_behaviour(self, behaviour: Behaviour, *, with_version: bool = True) -> None:
        """Answer as `behaviour` from the next call on; its version too unless `with_version` is False."""
        self.behaviour = behaviour
        self.state.clock_offset_s = behaviour.clock_offset_s
        if with_version and behaviour.version is not None:
            self.state.set_version(behaviour.version)

    def json_reply(self, body: Any, *, status: int = 200) -> web.Response:
        """Every JSON reply of the admin API leaves through here, in the server's language."""
        return web.json_response(self.behaviour.localise(body), status=status)


SIM_KEY = web.AppKey("comet_sim", SimContext)
