"""The simulator's shared parts, as the aiohttp application sees them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

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
    # Set when the simulator stops, so hung requests end promptly instead of holding shutdown.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


SIM_KEY = web.AppKey("comet_sim", SimContext)
