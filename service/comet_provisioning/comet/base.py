"""The plumbing every ``CometClient`` method stands on: forms, retries, probes, server info."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from .aiohttp_transport import AiohttpTransport
from .classify import ErrorHints
from .config import CometServerConfig
from .endpoints import READ_ONLY_ENDPOINTS
from .errors import CometError, CometNotCometServer, not_sent
from .exchange import Exchange, Exchanger
from .models import JSONDict, MetaVersion
from .observe import LOGGER, CallObserver, NullObserver
from .probes import Prober
from .retry import deadline_after, retry_delay
from .server_info import ServerInfo, ServerInfoCache, server_info_from
from .transport import Transport
from .version import CometVersion

__all__ = ["ClientBase", "FormValue"]

FormValue: TypeAlias = str | int | bool | JSONDict | list[Any] | None
"""A request parameter: bools become ``1``/``0``, dicts and lists JSON text, ``None`` is left out."""


def _encode(value: str | int | bool | JSONDict | list[Any]) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class ClientBase:
    """One Comet Server's admin API, reached through a ``Transport`` (``AiohttpTransport`` by default).

    Read-only calls are retried on transient failures; mutating calls are re-sent only when the
    request provably never reached the server (or was refused). Every method takes ``timeout_s``:
    an overall budget (retries, probes and backoff included) that no attempt or sleep exceeds.
    """

    def __init__(
        self,
        config: CometServerConfig,
        *,
        transport: Transport | None = None,
        observer: CallObserver | None = None,
        hints: ErrorHints | None = None,
        on_server_info: Callable[[ServerInfo], None] | None = None,
    ) -> None:
        self.config = config
        self._exchanger = Exchanger(
            config, transport or AiohttpTransport(config), observer or NullObserver(), hints or ErrorHints()
        )
        self._server = ServerInfoCache(config.server_id, config.server_info_ttl_s, on_server_info)
        self._prober = Prober(self._exchanger, self._form, config.credentials_proof_s, self._learn_from)

    @property
    def server_id(self) -> str:
        return self.config.server_id

    @property
    def closed(self) -> bool:
        return self._exchanger.closed

    async def aclose(self, grace_s: float = 0.0) -> None:
        """Close the transport (after letting running calls finish for up to ``grace_s``)."""
        await self._exchanger.aclose(grace_s)

    # -- what the client knows of its server -----------------------------------------------------

    @property
    def server_info(self) -> ServerInfo | None:
        """The last learned release and clock offset (None until learned; may be past its TTL)."""
        return self._server.info

    async def ensure_server_info(
        self, *, timeout_s: float | None = None, deadline: float | None = None
    ) -> ServerInfo:
        """The server's release and clock offset, learned by ``meta/version`` when unknown, older
        than ``config.server_info_ttl_s``, or contradicted by a reply; concurrent callers share one
        call. ``CometNotCometServer`` when the server's ``Version`` is not a version number."""
        info = self._server.fresh()
        if info is not None:
            return info
        if deadline is None:
            deadline = deadline_after(timeout_s)
        async with self._server.lock:
            info = self._server.fresh()
            if info is not None:
                return info
            meta, learned = await self._meta_version(deadline)
            if learned is None:
                raise CometNotCometServer(
                    self.server_id, "meta/version", f"Version {meta.version!r} is not a version number", 200
                )
            return learned

    def comet_now_ms(self) -> int:
        """Now on Comet's clock, in unix milliseconds: this host's clock plus the learned offset.

        Accurate to about ±1 s: Comet tells its time in whole seconds, measured against the middle
        of a round trip. Call ``ensure_server_info`` first; ``RuntimeError`` when nothing is learned.
        """
        info = self._server.info
        if info is None:
            raise RuntimeError(f"comet {self.server_id}: server info not learned; await ensure_server_info()")
        return int((time.time() + info.clock_offset_s) * 1000)

    async def _meta_version(self, deadline: float | None) -> tuple[MetaVersion, ServerInfo | None]:
        exchange = await self._exchange("meta/version", deadline=deadline)
        body = exchange.body
        version = body.get("Version") if isinstance(body, dict) else None
        if not isinstance(version, str) or not version:
            raise CometNotCometServer(self.server_id, "meta/version", "reply has no Version", 200)
        assert isinstance(body, dict)
        return MetaVersion(version=version, raw=body), self._learn_from(exchange)

    def _learn_from(self, exchange: Exchange) -> ServerInfo | None:
        """Learn from any successful ``meta/version`` reply (the probes' too)."""
        if not isinstance(exchange.body, dict):
            return None
        info = server_info_from(exchange.body, exchange.headers, exchange.sent_at, exchange.received_at)
        if info is not None:
            self._server.learn(info)
        return info

    async def _version_before_write(self, deadline: float | None) -> CometVersion:
        """The release, for a write whose parameters depend on it; a failure here sent no write."""
        try:
            return (await self.ensure_server_info(deadline=deadline)).version
        except CometError as error:
            raise not_sent(error) from error

    # -- sending ---------------------------------------------------------------------------------

    def _form(self, params: Mapping[str, FormValue] | None = None) -> dict[str, str]:
        form = {"Username": self.config.username, "AuthType": "Password", "Password": self.config.password}
        for key, value in (params or {}).items():
            if value is not None:
                form[key] = _encode(value)
        return form

    def _retry_delay(
        self, error: CometError, read_only: bool, attempt: int, deadline: float | None
    ) -> float | None:
        return retry_delay(
            error,
            read_only=read_only,
            attempt=attempt,
            max_retries=self.config.max_retries,
            base_s=self.config.retry_backoff_base_s,
            cap_s=self.config.retry_backoff_max_s,
            deadline=deadline,
        )

    async def _exchange(
        self,
        endpoint: str,
        params: Mapping[str, FormValue] | None = None,
        *,
        timeout_s: float | None = None,
        deadline: float | None = None,
        target_user: str | None = None,
    ) -> Exchange:
        """Send one admin call (retrying when safe) and return the exchange of its success."""
        if deadline is None:
            deadline = deadline_after(timeout_s)
        form = self._form(params)
        read_only = endpoint in READ_ONLY_ENDPOINTS
        attempt = 0
        while True:
            attempt += 1
            try:
                exchange = await self._exchanger.exchange(endpoint, form, deadline=deadline, attempt=attempt)
                if exchange.verdict.error is None:
                    return exchange
                raise await self._prober.settle(exchange.verdict, endpoint, target_user, deadline)
            except CometError as error:
                delay = self._retry_delay(error, read_only, attempt, deadline)
                if delay is None:
                    raise
                LOGGER.debug(
                    "comet %s %s: %s; retrying in %.3fs", self.server_id, endpoint, error.kind, delay
                )
                await asyncio.sleep(delay)

    async def _call(
        self,
        endpoint: str,
        params: Mapping[str, FormValue] | None = None,
        *,
        timeout_s: float | None = None,
        deadline: float | None = None,
        target_user: str | None = None,
    ) -> Any:
        """The decoded body of a successful admin call."""
        exchange = await self._exchange(
            endpoint, params, timeout_s=timeout_s, deadline=deadline, target_user=target_user
        )
        return exchange.body

    # -- reply shapes ----------------------------------------------------------------------------

    def _as_dict(self, body: Any, endpoint: str) -> JSONDict:
        """The reply as a JSON object; any other shape means whoever answered is not Comet."""
        if not isinstance(body, dict):
            raise CometNotCometServer(self.server_id, endpoint, "expected a JSON object", 200)
        return body

    def _as_map(self, body: Any, endpoint: str) -> JSONDict:
        """A map reply; ``null`` counts as empty (Go encodes an empty map that way)."""
        return {} if body is None else self._as_dict(body, endpoint)

    def _as_list(self, body: Any, endpoint: str) -> list[Any]:
        """A list reply; ``null`` counts as empty (Go encodes an empty slice that way)."""
        if body is None:
            return []
        if not isinstance(body, list):
            raise CometNotCometServer(self.server_id, endpoint, "expected a JSON list", 200)
        return body
