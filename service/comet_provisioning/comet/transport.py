"""One ``aiohttp.ClientSession`` per Comet Server, and the single HTTP exchange every call is built on."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from .classify import NETWORK_ERRORS, ErrorHints, Verdict, classify_exception, classify_reply, decode_body
from .config import CometServerConfig
from .connector import CURRENT_TIMING, TimedConnector
from .errors import CometClientClosed, CometError, CometNotCometServer, CometTimeout
from .form import encode_form
from .observe import CallObserver, CallRecord, CallTiming, report_call

__all__ = ["CometTransport", "Exchange"]

_ERROR_BODY_LIMIT = 1 << 20
"""How much of an error reply to a streaming call is read to classify it."""


FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True, slots=True)
class Exchange:
    """A reply that arrived: the decoded body and its classification."""

    body: Any
    verdict: Verdict


class CometTransport:
    """Owns the session and connector: at most ``max_connections`` sockets, TLS verified by default."""

    def __init__(self, config: CometServerConfig, observer: CallObserver, hints: ErrorHints) -> None:
        self.config = config
        self.observer = observer
        self.hints = hints
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def _ssl(self) -> ssl.SSLContext | bool:
        if not self.config.verify_tls:
            return False
        if self.config.ca_file is not None:
            return ssl.create_default_context(cafile=self.config.ca_file)
        return True

    def session(self, endpoint: str) -> aiohttp.ClientSession:
        """The session, created on first use (it must be created inside the running loop)."""
        if self._closed:
            raise CometClientClosed(self.config.server_id, endpoint)
        if self._session is None:
            connector = TimedConnector(
                limit=self.config.max_connections,
                limit_per_host=self.config.max_connections,
                keepalive_timeout=self.config.keepalive_timeout_s,
                ssl=self._ssl(),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # English messages make the configurable message hints line up; decisions never
                # depend on them alone.
                headers={"User-Agent": "comet-provisioning", "Accept-Language": "en"},
                raise_for_status=False,
            )
        return self._session

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
        """Refuse new calls, give running ones up to ``grace_s`` to finish, then close the sockets."""
        self._closed = True
        if grace_s > 0 and self._in_flight:
            try:
                async with asyncio.timeout(grace_s):
                    await self._idle.wait()
            except TimeoutError:
                pass
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def timeout(self, endpoint: str, limit_s: float, deadline: float | None) -> aiohttp.ClientTimeout:
        """The per-attempt timeout: ``limit_s``, shortened to the caller's deadline."""
        budget = limit_s
        if deadline is not None:
            budget = min(budget, deadline - asyncio.get_running_loop().time())
        if budget <= 0:
            raise CometTimeout(
                self.config.server_id, endpoint, "deadline exceeded before sending", reached_server=False
            )
        return aiohttp.ClientTimeout(total=budget, sock_connect=min(self.config.connect_timeout_s, budget))

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
        loop = asyncio.get_running_loop()
        record = CallRecord(
            server_id=self.config.server_id,
            endpoint=endpoint,
            duration_s=loop.time() - timing.started_at,
            pool_wait_s=timing.pool_wait_s,
            outcome=outcome,
            http_status=http_status,
            api_status=api_status,
            attempt=attempt,
        )
        report_call(self.observer, record, form)

    async def exchange(
        self, endpoint: str, form: Mapping[str, str], *, deadline: float | None, attempt: int
    ) -> Exchange:
        """POST one form and classify the reply. Transport failures raise a ``CometError``."""
        session = self.session(endpoint)
        timeout = self.timeout(endpoint, self.config.request_timeout_s, deadline)
        timing = CallTiming(started_at=asyncio.get_running_loop().time())
        outcome, http_status, api_status = "error", None, None
        timed = CURRENT_TIMING.set(timing)
        with self.in_flight():
            try:
                async with session.post(
                    self.config.admin_url(endpoint),
                    data=encode_form(form),
                    headers=FORM_HEADERS,
                    timeout=timeout,
                ) as resp:
                    http_status = resp.status
                    raw = await resp.read()
                    content_type = resp.headers.get("Content-Type", "")
                body = decode_body(raw, content_type)
                verdict = classify_reply(
                    self.config.server_id, endpoint, http_status, body, content_type, self.hints
                )
                if verdict.error is not None:
                    outcome, api_status = verdict.error.kind, verdict.error.api_status
                else:
                    outcome = "ok"
                return Exchange(body, verdict)
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            except NETWORK_ERRORS as exc:
                error = self._transport_error(endpoint, exc, timing)
                outcome = error.kind
                raise error from exc
            finally:
                CURRENT_TIMING.reset(timed)
                self.record(endpoint, timing, outcome, http_status, api_status, attempt, form)

    def _transport_error(self, endpoint: str, exc: BaseException, timing: CallTiming) -> CometError:
        return classify_exception(self.config.server_id, endpoint, exc, request_sent=timing.request_sent)

    async def open_stream(
        self, endpoint: str, form: Mapping[str, str], *, deadline: float | None, attempt: int
    ) -> tuple[aiohttp.ClientResponse, CallTiming]:
        """POST and return the open response of a successful streaming reply (the caller closes it).

        An error reply (non-2xx or JSON instead of bytes) is read, classified, observed and raised.
        """
        session = self.session(endpoint)
        cfg = self.config
        budget = self.timeout(endpoint, cfg.download_timeout_s, deadline)
        timeout = aiohttp.ClientTimeout(
            total=budget.total, sock_connect=budget.sock_connect, sock_read=cfg.request_timeout_s
        )
        timing = CallTiming(started_at=asyncio.get_running_loop().time())
        timed = CURRENT_TIMING.set(timing)
        try:
            resp = await session.post(
                cfg.admin_url(endpoint),
                data=encode_form(form),
                headers=FORM_HEADERS,
                timeout=timeout,
            )
        except asyncio.CancelledError:
            self.record(endpoint, timing, "cancelled", None, None, attempt, form)
            raise
        except NETWORK_ERRORS as exc:
            error = self._transport_error(endpoint, exc, timing)
            self.record(endpoint, timing, error.kind, None, None, attempt, form)
            raise error from exc
        finally:
            CURRENT_TIMING.reset(timed)
        content_type = resp.headers.get("Content-Type", "")
        if 200 <= resp.status < 300 and "json" not in content_type.lower():
            return resp, timing
        try:
            raw = await resp.content.read(_ERROR_BODY_LIMIT)
        except asyncio.CancelledError:
            self.record(endpoint, timing, "cancelled", resp.status, None, attempt, form)
            raise
        except NETWORK_ERRORS as exc:
            error = self._transport_error(endpoint, exc, timing)
            self.record(endpoint, timing, error.kind, resp.status, None, attempt, form)
            raise error from exc
        finally:
            resp.close()
        verdict = classify_reply(
            cfg.server_id, endpoint, resp.status, decode_body(raw, content_type), content_type, self.hints
        )
        failure = verdict.error or _unexpected_json(cfg.server_id, endpoint, resp.status)
        self.record(endpoint, timing, failure.kind, resp.status, failure.api_status, attempt, form)
        raise failure


def _unexpected_json(server_id: str, endpoint: str, http_status: int) -> CometError:
    return CometNotCometServer(server_id, endpoint, "expected installer bytes, got a JSON reply", http_status)
