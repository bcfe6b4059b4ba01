"""The event loop `serve` runs on: uvloop where it is installed (the default), else asyncio's own.

uvloop (libuv under asyncio's API) runs the same service for less CPU: 4 % less per account created,
measured with `tests/perf/ablate.py`'s method (README, Performance). grpc.aio and aiohttp run on it
unchanged. `event_loop = "asyncio"` keeps the standard loop, e.g. to rule uvloop out when debugging.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable

from comet_provisioning.config import ConfigError

__all__ = ["CHOICES", "loop_factory", "resolve", "running_loop_name"]

CHOICES = ("auto", "uvloop", "asyncio")


def resolve(choice: str) -> str:
    """The loop `choice` stands for: "uvloop" or "asyncio" (auto: uvloop when it is installed).
    ConfigError for an unknown choice, or for uvloop when it is not installed."""
    uvloop_installed = importlib.util.find_spec("uvloop") is not None
    if choice == "auto":
        return "uvloop" if uvloop_installed else "asyncio"
    if choice not in CHOICES:
        raise ConfigError(f"setting 'event_loop': {choice!r} is not one of {', '.join(CHOICES)}")
    if choice == "uvloop" and not uvloop_installed:
        raise ConfigError(
            "setting 'event_loop': uvloop is not installed (pip install uvloop), or set it to asyncio"
        )
    return choice


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the loop the `event_loop` setting `choice` asks for (ConfigError as `resolve`)."""
    if resolve(choice) == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def running_loop_name() -> str:
    """ "uvloop" or "asyncio": the loop running this coroutine (for the "serving" line)."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
