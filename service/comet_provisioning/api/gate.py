"""Admission control: counts calls in flight, refuses new ones while draining or over the bound.

On shutdown the gate closes first: health says NOT_SERVING and new calls get UNAVAILABLE (a retry
reaches another replica), while calls already running finish within the grace period.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from comet_provisioning.api.errors import abort
from comet_provisioning.core.errors import ErrorKind, ServiceError

from .handlers import Context, Handler, Layer, StreamBehaviour, UnaryBehaviour, wrap_handler


class AdmissionGate(Layer):
    def __init__(self, max_in_flight: int) -> None:
        super().__init__()
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    def start_draining(self) -> None:
        self.draining = True

    async def wait_idle(self, timeout: float) -> bool:
        """Waits until no admitted call is running; False if the timeout passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def _refusal(self) -> ServiceError | None:
        if self.draining:
            return ServiceError(ErrorKind.UNAVAILABLE, "SHUTTING_DOWN", "the service is shutting down; retry")
        if self.in_flight >= self.max_in_flight:
            return ServiceError(
                ErrorKind.RESOURCE_EXHAUSTED,
                "TOO_MANY_REQUESTS",
                f"more than {self.max_in_flight} calls in flight; retry later",
                metadata={"limit": str(self.max_in_flight)},
            )
        return None

    def _enter(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def _leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    def wrap(self, method: str, handler: Handler) -> Handler:
        if method.startswith("/grpc."):
            return handler  # health and reflection must answer while draining

        def unary(behaviour: UnaryBehaviour) -> UnaryBehaviour:
            async def run(request: Any, context: Context) -> Any:
                refusal = self._refusal()
                if refusal is not None:
                    await abort(context, refusal)
                self._enter()
                try:
                    return await behaviour(request, context)
                finally:
                    self._leave()

            return run

        def stream(behaviour: StreamBehaviour) -> StreamBehaviour:
            async def run(request: Any, context: Context) -> AsyncIterator[Any]:
                refusal = self._refusal()
                if refusal is not None:
                    await abort(context, refusal)
                self._enter()
                try:
                    async for item in behaviour(request, context):
                        yield item
                finally:
                    self._leave()

            return run

        return wrap_handler(handler, unary, stream)
