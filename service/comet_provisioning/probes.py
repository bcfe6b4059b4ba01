"""Kubernetes probes: /healthz (the process answers) and /readyz (it takes calls: started, not
draining, its store reachable and its schema at the version this code needs).

The HTTP listener runs on its own thread; the store is asked on the service's event loop, with a
short timeout, so a loop too busy to answer also reads as not ready.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable

__all__ = ["Readiness"]

# A probe's own timeout is typically 1 s (Kubernetes' default); answer before it.
_STORE_TIMEOUT_S = 0.8


class Readiness:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        store_revision: Callable[[], Awaitable[str | None]],
        needed_revision: str,
    ) -> None:
        self._loop = loop
        self._store_revision = store_revision
        self._needed = needed_revision
        # Set by the service: True once it serves, False again when it starts draining.
        self.serving = False

    def live(self) -> tuple[bool, str]:
        return True, "alive"

    def ready(self) -> tuple[bool, str]:
        """(ready, why) — called from the listener's thread."""
        if not self.serving:
            return False, "not serving (starting or shutting down)"
        future = asyncio.run_coroutine_threadsafe(self._store(), self._loop)
        try:
            return future.result(_STORE_TIMEOUT_S)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return False, f"the store did not answer within {_STORE_TIMEOUT_S} s"

    async def _store(self) -> tuple[bool, str]:
        try:
            revision = await self._store_revision()
        except Exception as exc:
            return False, f"the store is unreachable ({type(exc).__name__})"
        if revision != self._needed:
            return (
                False,
                f"the database schema is at {revision or 'nothing'}, this version needs {self._needed}",
            )
        return True, "ready"
