"""When a failed call may be sent again, and how long to wait first."""

from __future__ import annotations

import asyncio
import random

from .errors import CometError

__all__ = ["backoff_delay", "deadline_after", "retry_delay"]


def deadline_after(timeout_s: float | None) -> float | None:
    """A ``loop.time()`` deadline ``timeout_s`` from now (None: no caller deadline)."""
    if timeout_s is None:
        return None
    return asyncio.get_running_loop().time() + timeout_s


def backoff_delay(attempt: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base·2^(attempt-1))]."""
    return random.uniform(0.0, min(cap_s, base_s * (2 ** (attempt - 1))))


def retry_delay(
    error: CometError,
    *,
    read_only: bool,
    attempt: int,
    max_retries: int,
    base_s: float,
    cap_s: float,
    deadline: float | None,
) -> float | None:
    """Seconds to sleep before attempt ``attempt + 1``, or None when the error must be raised.

    A transient error is retried when the endpoint changes nothing, or when the request provably
    never reached the server; never past ``max_retries`` nor past the caller's deadline.
    """
    if not error.retryable or attempt > max_retries:
        return None
    if not read_only and error.reached_server:
        return None
    delay = backoff_delay(attempt, base_s, cap_s)
    if deadline is not None and asyncio.get_running_loop().time() + delay >= deadline:
        return None
    return delay
