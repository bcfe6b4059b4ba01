"""An in-memory Comet for the client's tests, plugged in through the transport seam (no sockets).

Replies are scripted per endpoint (in order; the last one given with ``times=None`` repeats), every
form received is kept, and ``meta/version`` answers by default as the release given, with Comet's
clock ``clock_offset_s`` ahead of this host's.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from comet_provisioning.comet import (
    CallTiming,
    CometClient,
    CometServerConfig,
    ServerInfo,
    TransportError,
    TransportReply,
    TransportRequest,
)

from .support import RecordingObserver, make_config


@dataclass
class _Script:
    reply: TransportReply | TransportError
    times: int | None  # None: for ever


@dataclass
class FakeStream:
    """A streaming reply served from memory."""

    status: int
    headers: Mapping[str, str]
    chunks: list[bytes]
    released: bool = False
    closed: bool = False

    async def iter_chunks(self, chunk_size: int) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            for start in range(0, len(chunk), chunk_size):
                yield chunk[start : start + chunk_size]

    async def read(self, limit: int) -> bytes:
        return b"".join(self.chunks)[:limit]

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeComet:
    """A ``Transport`` answering from scripts. Unscripted calls fail the test loudly."""

    version: str | None = "25.9.0"
    clock_offset_s: float = 0.0
    current_time: bool = True
    """Whether ``meta/version`` carries ``CurrentTime`` (else only the ``Date`` header tells the time)."""
    forms: defaultdict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    streams: list[FakeStream] = field(default_factory=list)
    closed: bool = False
    _scripts: defaultdict[str, deque[_Script]] = field(default_factory=lambda: defaultdict(deque))

    # -- scripting --------------------------------------------------------------------------------

    def reply(
        self,
        endpoint: str,
        payload: Any = None,
        *,
        status: int = 200,
        body: bytes | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
    ) -> None:
        raw = body if body is not None else json.dumps(payload).encode()
        all_headers = {"Content-Type": content_type, **(headers or {})}
        self._scripts[endpoint].append(_Script(TransportReply(status, all_headers, raw), times))

    def fail(self, endpoint: str, error: TransportError, *, times: int | None = 1) -> None:
        self._scripts[endpoint].append(_Script(error, times))

    def stream(self, endpoint: str, data: bytes, *, headers: Mapping[str, str] | None = None) -> None:
        """The next streaming call answers ``data`` in 1000-byte chunks."""
        all_headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
        chunks = [data[i : i + 1000] for i in range(0, len(data), 1000)]
        self.streams.append(FakeStream(200, {**all_headers, **(headers or {})}, chunks))
        self._scripts[endpoint].append(_Script(TransportReply(200, {}, b"<stream>"), 1))

    def sent(self, endpoint: str) -> list[dict[str, str]]:
        return self.forms[endpoint]

    def calls(self, endpoint: str) -> int:
        return len(self.forms[endpoint])

    # -- the transport ----------------------------------------------------------------------------

    def _next(self, endpoint: str) -> TransportReply | TransportError:
        queue = self._scripts[endpoint]
        if queue:
            script = queue[0]
            if script.times is not None:
                script.times -= 1
                if script.times == 0:
                    queue.popleft()
            return script.reply
        if endpoint == "meta/version" and self.version is not None:
            return self._meta_version()
        raise AssertionError(f"unscripted call to {endpoint}")

    def _meta_version(self) -> TransportReply:
        now = time.time() + self.clock_offset_s
        body: dict[str, Any] = {"Version": self.version, "VersionCodename": "Voyager"}
        if self.current_time:
            body["CurrentTime"] = int(now)
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))
        return TransportReply(
            200, {"Content-Type": "application/json", "Date": date}, json.dumps(body).encode()
        )

    def _receive(self, request: TransportRequest) -> TransportReply | TransportError:
        assert not self.closed, "call after aclose"
        self.forms[request.endpoint].append(
            dict(parse_qsl(request.body.decode("ascii"), keep_blank_values=True))
        )
        return self._next(request.endpoint)

    async def send(self, request: TransportRequest, timing: CallTiming) -> TransportReply:
        outcome = self._receive(request)
        if isinstance(outcome, TransportError):
            raise outcome
        return outcome

    async def open_stream(self, request: TransportRequest, timing: CallTiming) -> FakeStream:
        outcome = self._receive(request)
        if isinstance(outcome, TransportError):
            raise outcome
        if outcome.body == b"<stream>":
            return self.streams.pop(0)
        return FakeStream(outcome.status, outcome.headers, [outcome.body])

    async def aclose(self) -> None:
        self.closed = True


def fake_client(
    fake: FakeComet,
    *,
    observer: RecordingObserver | None = None,
    learned: list[ServerInfo] | None = None,
    config: CometServerConfig | None = None,
    **overrides: Any,
) -> CometClient:
    """The real client on ``fake``; ``learned`` collects every ``on_server_info`` call."""
    return CometClient(
        config or make_config(**overrides),
        transport=fake,
        observer=observer,
        on_server_info=learned.append if learned is not None else None,
    )


def carm(status: int = 200, message: str = "OK") -> dict[str, Any]:
    return {"Status": status, "Message": message}
