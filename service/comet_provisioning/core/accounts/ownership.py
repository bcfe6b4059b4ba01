"""Is an existing Comet user the one this account's add-user created, or someone else's?

Comet cannot say who created a user, and a lost add-user reply (a proxy's 502, a reset, a timeout,
a crash) leaves the outcome unknown. The proof used here is the profile's `CreateTime`, which Comet
sets from its own clock when it creates the user: every add-user attempt of an account for its
current username is recorded as a window on Comet's clock (the start is written *before* the request
goes out; the end when its outcome is known), and a user created inside the account's window is
its own, while a user created before the first attempt (or after the last one ended) is someone
else's and never written to.

Why this proof and not the original module's existence check before add-user: that check costs a
Comet call on every create, for a case that needs settling only after an unknown outcome, and it
still races (another party can create the name between the check and add-user). The window costs no
call at all on the happy path: Comet's clock is learned once per server (meta/version's
CurrentTime), so the window start is a local computation.

When Comet itself answers add-user with a refusal (a JSON reply, whatever its status or wording),
that attempt created nothing, and an earlier attempt of the account is re-sent only after Comet
said it has no such user: so a user found after a refusal is someone else's even if it was created
a moment before (the window is not consulted).

What the proof cannot tell apart: a user someone else created with the same name within the
tolerance of the window (the clock offset is known to about a second; `CreateTime` has whole
seconds), when the attempt's outcome was unknown. Names come from the customer (their e-mail by
default), so that takes another party creating the same customer's name within seconds of this
service's own attempt whose reply was lost.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from comet_provisioning.comet import CometClient

CLOCK_TOLERANCE_MS = 2_000
"""CreateTime has whole seconds and the learned clock offset is good to about a second."""


class Ownership(enum.Enum):
    OURS = "ours"
    FOREIGN = "foreign"
    UNPROVABLE = "unprovable"  # the profile carries no CreateTime: treated as someone else's


@dataclass(frozen=True)
class AttemptWindow:
    """The span of an account's add-user attempts for its username, on Comet's clock (ms).

    `end_ms` is written before each attempt goes out as the latest moment it could take effect (its
    start plus the client's time limit for one call), and narrowed to when its outcome arrived.
    """

    start_ms: int
    end_ms: int


def create_time_ms(profile: Mapping[str, Any]) -> int | None:
    value = profile.get("CreateTime")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(value * 1000)


def judge(profile: Mapping[str, Any], window: AttemptWindow | None) -> Ownership:
    """OURS only when the profile's CreateTime falls inside the account's attempt window."""
    created = create_time_ms(profile)
    if created is None:
        return Ownership.UNPROVABLE
    if window is None:
        return Ownership.FOREIGN  # no add-user of this account can have created it
    earliest = window.start_ms - CLOCK_TOLERANCE_MS
    latest = window.end_ms + CLOCK_TOLERANCE_MS
    return Ownership.OURS if earliest <= created <= latest else Ownership.FOREIGN


def max_call_ms(client: CometClient) -> int:
    """The longest one add-user request can stay in flight before the client gives it up."""
    config = client.config
    return int((config.connect_timeout_s + config.request_timeout_s) * 1000)
