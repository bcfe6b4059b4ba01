"""A tiny real HTTP stand-in for a Comet Server, for tests of the client's networking (not the simulator).

It counts open TCP connections server-side, records every form it receives, can be slow per endpoint,
and streams installers in chunks while noticing when the client hangs up.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import Counter, defaultdict
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .support import ADMIN_PASSWORD


class CountingServer(web.Server):
    """``web.Server`` that tracks how many client connections are open at once."""

    def __init__(self, handler: Any) -> None:
        super().__init__(handler)
        self.open_connections = 0
        self.peak_connections = 0
        self.total_connections = 0

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(handler, transport)
        self.open_connections += 1
        self.total_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:  # type: ignore[override]
        super().connection_lost(handler, exc)
        self.open_connections -= 1


class TinyComet:
    def __init__(self) -> None:
        self.server = CountingServer(self.handle)
        self.runner = web.ServerRunner(self.server)
        self.counts: Counter[str] = Counter()
        self.forms: defaultdict[str, list[dict[str, str]]] = defaultdict(list)
        self.delays: dict[str, float] = {}
        self.in_flight = 0
        self.peak_in_flight = 0
        self.stream_size = 20 * 1024 * 1024
        self.stream_chunk = 64 * 1024
        self.stream_pause_s = 0.0
        self.stream_disposition: str | None = 'attachment; filename="CometBackup-Setup.zip"'
        self.stream_bytes_sent = 0
        self.stream_hung_up = asyncio.Event()
        self.stream_finished = asyncio.Event()
        self.port = 0

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> str:
        await self.runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        site = web.SockSite(self.runner, sock, ssl_context=ssl_context)
        await site.start()
        scheme = "https" if ssl_context else "http"
        host = "localhost" if ssl_context else "127.0.0.1"
        return f"{scheme}://{host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        endpoint = request.path.removeprefix("/api/v1/admin/")
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.counts[endpoint] += 1
        self.forms[endpoint].append(form)
        if form.get("Password") != ADMIN_PASSWORD:
            return web.json_response({"Status": 403, "Message": "Unauthorised"})
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delays.get(endpoint, 0))
            if endpoint.startswith("branding/generate-client/"):
                return await self.stream(request)
            replies: dict[str, Any] = {
                "meta/version": {"Version": "24.12.2", "ServerStartHash": "abc"},
                "list-users": ["alice"],
            }
            return web.json_response(replies.get(endpoint, {"Status": 200, "Message": "OK"}))
        finally:
            self.in_flight -= 1

    async def stream(self, request: web.BaseRequest) -> web.StreamResponse:
        headers = {"Content-Disposition": self.stream_disposition} if self.stream_disposition else {}
        response = web.StreamResponse(headers=headers)
        response.content_type = "application/zip"
        response.content_length = self.stream_size
        await response.prepare(request)
        chunk = b"\x5a" * self.stream_chunk
        try:
            while self.stream_bytes_sent < self.stream_size:
                piece = chunk[: self.stream_size - self.stream_bytes_sent]
                await response.write(piece)
                self.stream_bytes_sent += len(piece)
                if self.stream_pause_s:
                    await asyncio.sleep(self.stream_pause_s)
            await response.write_eof()
            self.stream_finished.set()
        except (ConnectionError, asyncio.CancelledError):
            self.stream_hung_up.set()
            raise
        return response
