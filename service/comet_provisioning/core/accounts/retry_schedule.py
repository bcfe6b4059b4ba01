"""When a provisioning that met a transient failure runs again, and until when it keeps trying.

A Comet server that is down, a proxy's 502 or a lost reply is not a reason to give an order up: the
account stays PENDING and the background sweep runs it again with exponential backoff (jittered, so
the orders of one outage do not all return at once), until the deadline; only then, or on a failure
no retry can fix, does it end FAILED.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from comet_provisioning.core.errors import ErrorKind, ServiceError

_TRANSIENT = frozenset(
    {ErrorKind.UNAVAILABLE, ErrorKind.ABORTED, ErrorKind.DEADLINE_EXCEEDED, ErrorKind.RESOURCE_EXHAUSTED}
)


def is_transient(error: ServiceError) -> bool:
    """A failure that the same run, tried again later, may get past by itself."""
    return error.kind in _TRANSIENT


@dataclass(frozen=True)
class RetrySchedule:
    first_delay: dt.timedelta = dt.timedelta(seconds=5)
    max_delay: dt.timedelta = dt.timedelta(minutes=10)
    window: dt.timedelta = dt.timedelta(hours=24)

    def deadline(self, since: dt.datetime) -> dt.datetime:
        return since + self.window

    def next_attempt(self, now: dt.datetime, attempts: int) -> dt.datetime:
        """`attempts`: how many runs have failed so far (1 after the first failure)."""
        exponent = min(max(attempts - 1, 0), 30)
        delay: dt.timedelta = min(self.first_delay * (2**exponent), self.max_delay)
        jittered: dt.timedelta = delay * (0.5 + random.random() / 2)
        return now + jittered
