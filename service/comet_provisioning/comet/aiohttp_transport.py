"""The default transport: one pooled ``aiohttp.ClientSession`` per Comet Server."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import aiohttp

from .config import CometServerConfig
from .connector import CURRENT_TIMING, TimedConnector
from .observe import CallTiming
from .transport import (
    ConnectFailed,
    ConnectionBroken,
    TLSFailed,
    TransportError,
    TransportReply,
    TransportRequest,
    TransportTimeout,
)

__all__ = ["AiohttpTransport"]

_NETWORK_ERRORS = (aiohttp.ClientError, OSError)
"""What a network failure raises (``TimeoutError`` is an ``OSError``); anything else is a bug."""

_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


def _failure(exc: BaseException, request_sent: bool | None) -> TransportError:
    """Only errors raised before a connection existed count as never sent."""
    detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError | ssl.CertificateError):
        return TLSFailed(detail)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TransportTimeout(detail, request_sent=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectFailed(detail)
    if isinstance(exc, asyncio.TimeoutError):
        return TransportTimeout(detail or "timed out", request_sent=request_sent)
    return ConnectionBroken(detail, request_sent=request_sent)


class _AiohttpStream:
    """An open ``aiohttp`` response, read as it arrives."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers

    async def iter_chunks(self, chunk_size: int) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(chunk_size):
                yield chunk
        except _NETWORK_ERRORS as exc:
            raise _failure(exc, True) from exc

    async def read(self, limit: int) -> bytes:
        try:
            return await self._response.content.read(limit)
        except _NETWORK_ERRORS as exc:
            raise _failure(exc, True) from exc

    def release(self) -> None:
        self._response.release()

    def close(self) -> None:
        self._response.close()


class AiohttpTransport:
    """At most ``max_connections`` sockets, kept alive; TLS verified by default."""

    def __init__(self, config: CometServerConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _ssl(self) -> ssl.SSLContext | bool:
        if not self.config.verify_tls:
            return False
        if self.config.ca_file is not None:
            return ssl.create_default_context(cafile=self.config.ca_file)
        return True

    def _session_now(self) -> aiohttp.ClientSession:
        """The session, created on first use (it must be created inside the running loop)."""
        if self._closed:
            raise ConnectFailed("transport is closed")
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

    @staticmethod
    def _timeout(request: TransportRequest) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=request.timeout_s,
            sock_connect=request.connect_timeout_s,
            sock_read=request.read_timeout_s,
        )

    async def send(self, request: TransportRequest, timing: CallTiming) -> TransportReply:
        session = self._session_now()
        timed = CURRENT_TIMING.set(timing)
        try:
            async with session.post(
                request.url, data=request.body, headers=_FORM_HEADERS, timeout=self._timeout(request)
            ) as resp:
                return TransportReply(resp.status, resp.headers, await resp.read())
        except _NETWORK_ERRORS as exc:
            raise _failure(exc, timing.request_sent) from exc
        finally:
            CURRENT_TIMING.reset(timed)

    async def open_stream(self, request: TransportRequest, timing: CallTiming) -> _AiohttpStream:
        session = self._session_now()
        timed = CURRENT_TIMING.set(timing)
        try:
            resp = await session.post(
                request.url, data=request.body, headers=_FORM_HEADERS, timeout=self._timeout(request)
            )
        except _NETWORK_ERRORS as exc:
            raise _failure(exc, timing.request_sent) from exc
        finally:
            CURRENT_TIMING.reset(timed)
        return _AiohttpStream(resp)

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
