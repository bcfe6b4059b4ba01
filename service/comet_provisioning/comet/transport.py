"""The seam between the Comet client and HTTP: one admin call out, status, headers and body back.

Everything that decides (retries, classification, probes, server info, observation) sits above this
seam, so a test can run the real client against an in-memory fake (as httpx's transports allow).
The default implementation is ``AiohttpTransport``.

A transport raises only the ``TransportError`` classes below for a call that got no reply; any
other exception is a bug and propagates. ``timing`` lets a transport say whether the request may
have reached the server (``timing.asked_for_connection`` / ``timing.connected``, which decide
whether a failed mutating call may be re-sent) and how long it waited for a connection; a fake
that leaves it untouched is treated as "may have reached the server".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .observe import CallTiming

__all__ = [
    "ConnectFailed",
    "ConnectionBroken",
    "StreamReply",
    "TLSFailed",
    "Transport",
    "TransportError",
    "TransportReply",
    "TransportRequest",
    "TransportTimeout",
    "header",
]


@dataclass(frozen=True, slots=True)
class TransportRequest:
    """One admin call: a ``POST`` of a form-encoded ``body`` (credentials included) to ``url``."""

    endpoint: str
    url: str
    body: bytes
    timeout_s: float
    """The whole attempt, connecting included."""
    connect_timeout_s: float
    read_timeout_s: float | None = None
    """Streams only: the longest wait for the next chunk."""


@dataclass(frozen=True, slots=True)
class TransportReply:
    """A reply that arrived in full. ``headers`` should look names up case-insensitively."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@runtime_checkable
class StreamReply(Protocol):
    """An open reply whose body is read as it arrives (client installers)."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def iter_chunks(self, chunk_size: int) -> AsyncIterator[bytes]:
        """The body in chunks of at most ``chunk_size`` bytes; raises ``TransportError`` on failure."""
        ...

    async def read(self, limit: int) -> bytes:
        """Up to ``limit`` bytes of the body (to classify an error reply)."""
        ...

    def release(self) -> None:
        """The body was read in full: the connection may be reused."""

    def close(self) -> None:
        """Abandon the reply: drop the connection (the server sees the hang-up)."""


@runtime_checkable
class Transport(Protocol):
    """Sends admin calls to one Comet Server."""

    async def send(self, request: TransportRequest, timing: CallTiming) -> TransportReply: ...

    async def open_stream(self, request: TransportRequest, timing: CallTiming) -> StreamReply:
        """Send the call and return as soon as the status and headers are in (the caller closes it)."""
        ...

    async def aclose(self) -> None:
        """Close every connection; no call is sent afterwards."""


class TransportError(Exception):
    """No (complete) reply arrived. ``request_sent``: False when it provably never left, None unknown."""

    def __init__(self, detail: str, *, request_sent: bool | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.request_sent = request_sent


class ConnectFailed(TransportError):
    """Nothing answered (DNS, connection refused, no route): the request was never sent."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, request_sent=False)


class TLSFailed(TransportError):
    """The TLS handshake failed (untrusted or mismatched certificate): nothing was sent."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail, request_sent=False)


class TransportTimeout(TransportError):
    """No complete reply in time (``request_sent=False`` for a timeout while connecting)."""


class ConnectionBroken(TransportError):
    """The connection broke; the request may have been processed."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, looked up case-insensitively even in a plain dict."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None
