"""Time, injectable: code that compares wall-clock times or waits takes a `Clock`, so a test can
control it instead of sleeping."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Protocol

__all__ = ["Clock", "SystemClock", "utcnow"]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """Aware, UTC."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return utcnow()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
