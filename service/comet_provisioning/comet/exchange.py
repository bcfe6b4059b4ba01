"""One attempt of one admin call, above the transport seam: timed, classified, observed.

Also counts running calls (so closing can let them finish) and notes when a call last succeeded,
which proves the admin credentials for a while (see ``probes``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from .classify import ErrorHints, Verdict, classify_reply, decode_body, transport_failure
from .config import CometServerConfig
from .errors import CometClientClosed, CometNotCometServer, CometTimeout
from .observe import CallObserver, CallRecord, CallTiming, report_call
from .transport import StreamReply, Transport, TransportError, TransportRequest, header

__all__ = ["Exchange", "Exchanger", "OpenStream"]

_ERROR_BODY_LIMIT = 1 << 20
"""How much of an error reply to a streaming call is read to classify it."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """A reply that arrived: the decoded body, its classification, and when (host wall clock)."""

    body: Any
    verdict: Verdict
    headers: Mapping[str, str]
    sent_at: float
    received_at: float


@dataclass(frozen=True, slots=True)
class OpenStream:
    """A successful streaming reply, open: whoever holds it closes or releases it."""

    stream: StreamReply
    timing: CallTiming


class Exchanger:
    """Sends attempts through ``transport`` for the client of one server."""

    def __init__(
        self, config: CometServerConfig, transport: Transport, observer: CallObserver, hints: ErrorHints
    ) -> None:
        self.config = config
        self.transport = transport
        self.observer = observer
        self.hints = hints
        self.last_success_at = float("-inf")
        """``loop.time()`` of the last reply that was a success."""
        self._closed = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def closed(self) -> bool:
        return self._closed

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Counts running calls so ``aclose`` can let them finish."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def aclose(self, grace_s: float = 0.0) -> None:
        """Refuse new calls, give running ones up to ``grace_s`` to finish, then close the transport."""
        self._closed = True
        if grace_s > 0 and self._in_flight:
            try:
                async with asyncio.timeout(grace_s):
                    await self._idle.wait()
            except TimeoutError:
                pass
        await self.transport.aclose()

    def _request(
        self, endpoint: str, form: Mapping[str, str], limit_s: float, deadline: float | None, *, stream: bool
    ) -> TransportRequest:
        """The attempt's request, its budget ``limit_s`` shortened to the caller's deadline."""
        if self._closed:
            raise CometClientClosed(self.config.server_id, endpoint)
        budget = limit_s
        if deadline is not None:
            budget = min(budget, deadline - asyncio.get_running_loop().time())
        if budget <= 0:
            raise CometTimeout(
                self.config.server_id, endpoint, "deadline exceeded before sending", reached_server=False
            )
        return TransportRequest(
            endpoint=endpoint,
            url=self.config.admin_url(endpoint),
            body=urlencode(form).encode("ascii"),
            timeout_s=budget,
            connect_timeout_s=min(self.config.connect_timeout_s, budget),
            read_timeout_s=self.config.request_timeout_s if stream else None,
        )

    def record(
        self,
        endpoint: str,
        timing: CallTiming,
        outcome: str,
        http_status: int | None,
        api_status: int | None,
        attempt: int,
        form: Mapping[str, Any],
    ) -> None:
        record = CallRecord(
            server_id=self.config.server_id,
            endpoint=endpoint,
            duration_s=asyncio.get_running_loop().time() - timing.started_at,
            pool_wait_s=timing.pool_wait_s,
            outcome=outcome,
            http_status=http_status,
            api_status=api_status,
            attempt=attempt,
        )
        report_call(self.observer, record, form)

    def _classify(
        self, endpoint: str, status: int, raw: bytes, headers: Mapping[str, str]
    ) -> tuple[Any, Verdict]:
        content_type = header(headers, "Content-Type") or ""
        body = decode_body(raw, content_type)
        return body, classify_reply(self.config.server_id, endpoint, status, body, content_type, self.hints)

    async def exchange(
        self, endpoint: str, form: Mapping[str, str], *, deadline: float | None, attempt: int
    ) -> Exchange:
        """Send one attempt and classify the reply. A call without a reply raises a ``CometError``."""
        request = self._request(endpoint, form, self.config.request_timeout_s, deadline, stream=False)
        loop = asyncio.get_running_loop()
        timing = CallTiming(started_at=loop.time())
        outcome, http_status, api_status = "error", None, None
        sent_at = time.time()
        with self.in_flight():
            try:
                reply = await self.transport.send(request, timing)
                received_at = time.time()
                http_status = reply.status
                body, verdict = self._classify(endpoint, reply.status, reply.body, reply.headers)
                if verdict.error is None:
                    outcome = "ok"
                    self.last_success_at = loop.time()
                else:
                    outcome, api_status = verdict.error.kind, verdict.error.api_status
                # The clock offset is measured from the moment a connection was there.
                return Exchange(body, verdict, reply.headers, sent_at + timing.pool_wait_s, received_at)
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            except TransportError as exc:
                error = transport_failure(self.config.server_id, endpoint, exc)
                outcome = error.kind
                raise error from exc
            finally:
                self.record(endpoint, timing, outcome, http_status, api_status, attempt, form)

    async def open_stream(
        self, endpoint: str, form: Mapping[str, str], *, deadline: float | None, attempt: int
    ) -> OpenStream | Exchange:
        """Send a streaming call: the open stream of a success, or the classified error reply.

        The attempt is observed here only when it fails; the caller records a success once the
        stream is done.
        """
        cfg = self.config
        request = self._request(endpoint, form, cfg.download_timeout_s, deadline, stream=True)
        timing = CallTiming(started_at=asyncio.get_running_loop().time())
        sent_at = time.time()
        try:
            stream = await self.transport.open_stream(request, timing)
        except asyncio.CancelledError:
            self.record(endpoint, timing, "cancelled", None, None, attempt, form)
            raise
        except TransportError as exc:
            error = transport_failure(cfg.server_id, endpoint, exc)
            self.record(endpoint, timing, error.kind, None, None, attempt, form)
            raise error from exc
        content_type = header(stream.headers, "Content-Type") or ""
        if 200 <= stream.status < 300 and "json" not in content_type.lower():
            self.last_success_at = asyncio.get_running_loop().time()
            return OpenStream(stream, timing)
        try:
            raw = await stream.read(_ERROR_BODY_LIMIT)
        except asyncio.CancelledError:
            self.record(endpoint, timing, "cancelled", stream.status, None, attempt, form)
            raise
        except TransportError as exc:
            error = transport_failure(cfg.server_id, endpoint, exc)
            self.record(endpoint, timing, error.kind, stream.status, None, attempt, form)
            raise error from exc
        finally:
            stream.close()
        body, verdict = self._classify(endpoint, stream.status, raw, stream.headers)
        failure = verdict.error
        if failure is None:
            failure = CometNotCometServer(
                cfg.server_id, endpoint, "expected installer bytes, got a JSON reply", stream.status
            )
            verdict = Verdict(failure)
        self.record(endpoint, timing, failure.kind, stream.status, failure.api_status, attempt, form)
        return Exchange(body, verdict, stream.headers, sent_at, time.time())
