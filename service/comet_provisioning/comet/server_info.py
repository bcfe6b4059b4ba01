"""What the client learns about its server from ``meta/version``: the release, and Comet's clock.

Learned once, kept for ``server_info_ttl_s``, and learned again sooner when a reply does not fit the
known release (an upgrade or a downgrade happened under us).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from .observe import LOGGER
from .transport import header
from .version import CometVersion

__all__ = ["ServerInfo", "ServerInfoCache", "clock_offset", "server_info_from"]


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A Comet Server's release and how far its clock is ahead of this host's (negative: behind)."""

    version: CometVersion
    clock_offset_s: float
    learned_at: datetime


def _server_seconds(body: Mapping[str, Any], headers: Mapping[str, str]) -> float | None:
    """Comet's time during the reply: ``CurrentTime`` (unix seconds), else the HTTP ``Date`` header.

    Both are whole seconds, cut down, so the true time lies in [t, t+1): the middle is taken.
    """
    current = body.get("CurrentTime")
    if isinstance(current, int | float) and not isinstance(current, bool) and current > 0:
        return current + 0.5 if float(current).is_integer() else float(current)
    date = header(headers, "Date")
    if date:
        try:
            return parsedate_to_datetime(date).timestamp() + 0.5
        except (TypeError, ValueError, IndexError):
            return None
    return None


def clock_offset(
    body: Mapping[str, Any], headers: Mapping[str, str], sent_at: float, received_at: float
) -> float:
    """Comet's clock minus the host's, measured against the middle of the round trip.

    Accurate to about ±(0.5 s + half the round trip), i.e. within ±1 s on any sane link. 0.0 when
    the reply tells no time at all.
    """
    server = _server_seconds(body, headers)
    if server is None:
        return 0.0
    return server - (sent_at + received_at) / 2


def server_info_from(
    body: Mapping[str, Any], headers: Mapping[str, str], sent_at: float, received_at: float
) -> ServerInfo | None:
    """The info in a ``meta/version`` reply; None when its ``Version`` is not a version number."""
    text = body.get("Version")
    if not isinstance(text, str):
        return None
    try:
        version = CometVersion.parse(text)
    except ValueError:
        return None
    return ServerInfo(
        version=version,
        clock_offset_s=clock_offset(body, headers, sent_at, received_at),
        learned_at=datetime.fromtimestamp(received_at, UTC),
    )


class ServerInfoCache:
    """The learned ``ServerInfo`` of one server, its age, and who wants to hear of it."""

    def __init__(
        self,
        server_id: str,
        ttl_s: float,
        on_learned: Callable[[ServerInfo], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._server_id = server_id
        self._ttl_s = ttl_s
        self._on_learned = on_learned
        self._clock = clock
        self._learned_at = float("-inf")
        self._stale = False
        self.info: ServerInfo | None = None
        self.lock = asyncio.Lock()
        """Held while learning, so concurrent callers share one ``meta/version``."""

    def fresh(self) -> ServerInfo | None:
        """The info, unless it is missing, older than the TTL, or contradicted by a reply."""
        if self._stale or self._clock() - self._learned_at >= self._ttl_s:
            return None
        return self.info

    def learn(self, info: ServerInfo) -> None:
        previous, self.info = self.info, info
        self._learned_at = self._clock()
        self._stale = False
        if previous is not None and previous.version != info.version:
            LOGGER.info("comet %s: version %s, was %s", self._server_id, info.version, previous.version)
        if self._on_learned is not None:
            try:
                self._on_learned(info)
            except Exception:
                LOGGER.exception("comet %s: on_server_info callback failed", self._server_id)

    def contradicted(self, what: str) -> None:
        """A reply does not fit the known release: learn it again at the next chance."""
        if not self._stale:
            LOGGER.info("comet %s: %s; will read its version again", self._server_id, what)
        self._stale = True

    def check_write_reply(self, endpoint: str, has_profile: bool) -> None:
        """A write's reply with (or without) the new profile, against what the release should send."""
        info = self.info
        if info is not None and info.version.profile_in_write_replies != has_profile:
            shape = "with" if has_profile else "without"
            self.contradicted(f"{endpoint} answered {shape} the new profile, unlike {info.version}")
