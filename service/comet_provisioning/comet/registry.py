"""One ``CometClient`` per Comet Server, created on demand and replaced when its settings change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial

from .classify import ErrorHints
from .client import CometClient
from .config import CometServerConfig
from .observe import LOGGER, CallObserver
from .server_info import ServerInfo

__all__ = ["ClientFactory", "CometClientRegistry", "ServerInfoListener"]

ClientFactory = Callable[[CometServerConfig], CometClient]
ServerInfoListener = Callable[[str, ServerInfo], None]
"""Hears ``(server_id, info)`` whenever a client (re)learns its server's release and clock."""


class CometClientRegistry:
    """Maps ``server_id`` → client. Safe for concurrent use from many tasks of one event loop.

    A replaced or removed client stops accepting calls at once (``CometClientClosed``, retryable)
    and is closed in the background after its running calls finish or ``close_grace_s`` passes.
    Callers should fetch the client from the registry for each operation rather than keep it.
    """

    def __init__(
        self,
        *,
        observer: CallObserver | None = None,
        hints: ErrorHints | None = None,
        factory: ClientFactory | None = None,
        on_server_info: ServerInfoListener | None = None,
        close_grace_s: float = 10.0,
    ) -> None:
        def default_factory(config: CometServerConfig) -> CometClient:
            listener = partial(on_server_info, config.server_id) if on_server_info is not None else None
            return CometClient(config, observer=observer, hints=hints, on_server_info=listener)

        self._factory: ClientFactory = factory or default_factory
        self._close_grace_s = close_grace_s
        self._clients: dict[str, tuple[str, CometClient]] = {}
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._clients)

    def __contains__(self, server_id: object) -> bool:
        return server_id in self._clients

    async def get(self, config: CometServerConfig) -> CometClient:
        """The client for ``config.server_id``; a new one if none exists or the config changed."""
        fingerprint = config.fingerprint()
        async with self._lock:
            if self._closed:
                raise RuntimeError("CometClientRegistry is closed")
            current = self._clients.get(config.server_id)
            if current is not None and current[0] == fingerprint and not current[1].closed:
                return current[1]
            client = self._factory(config)
            self._clients[config.server_id] = (fingerprint, client)
        if current is not None:
            LOGGER.info("comet server %s: settings changed, replacing its client", config.server_id)
            self._close_later(current[1])
        return client

    async def remove(self, server_id: str) -> None:
        """Forget a server and close its client (after running calls finish)."""
        async with self._lock:
            current = self._clients.pop(server_id, None)
        if current is not None:
            self._close_later(current[1])

    def _close_later(self, client: CometClient) -> None:
        task = asyncio.get_running_loop().create_task(client.aclose(self._close_grace_s))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every client now, including those still draining after a replacement."""
        async with self._lock:
            self._closed = True
            clients = [client for _, client in self._clients.values()]
            self._clients.clear()
        await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
