"""Helpers shared by the Comet client tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import ClientResponse
from aioresponses import aioresponses
from comet_provisioning.comet import CallRecord, CometServerConfig
from yarl import URL

BASE = "http://comet.test:8060"
ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-Pa55word-XYZ"
AUTH = {"Username": ADMIN, "AuthType": "Password", "Password": ADMIN_PASSWORD}


def url(endpoint: str, base: str = BASE) -> str:
    return f"{base}/api/v1/admin/{endpoint}"


def make_config(**overrides: Any) -> CometServerConfig:
    values: dict[str, Any] = {
        "server_id": "srv-1",
        "base_url": BASE,
        "username": ADMIN,
        "password": ADMIN_PASSWORD,
        "max_retries": 3,
        "retry_backoff_base_s": 0.001,
        "retry_backoff_max_s": 0.005,
        "request_timeout_s": 5,
    }
    values.update(overrides)
    return CometServerConfig(**values)


class RecordingObserver:
    """Keeps every CallRecord."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def on_call(self, record: CallRecord) -> None:
        self.records.append(record)

    def outcomes(self, endpoint: str | None = None) -> list[str]:
        return [r.outcome for r in self.records if endpoint is None or r.endpoint == endpoint]


def sent_forms(mock: aioresponses, endpoint: str, base: str = BASE) -> list[dict[str, str]]:
    """The form bodies aioresponses received for an endpoint, in order."""
    calls = mock.requests.get(("POST", URL(url(endpoint, base))), [])
    return [_form(call.kwargs["data"]) for call in calls]


def _form(data: Any) -> dict[str, str]:
    if isinstance(data, bytes):  # the client sends the form pre-encoded
        return dict(parse_qsl(data.decode("ascii"), keep_blank_values=True))
    return dict(data)


def refused() -> aiohttp.ClientConnectorError:
    """The exception aiohttp raises when nothing listens on the port."""
    key = SimpleNamespace(host="comet.test", port=8060, ssl=True, is_ssl=False)
    return aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))  # type: ignore[arg-type]


class _CompatResponse(ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's required ``stream_writer`` argument."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class CompatAioresponses(aioresponses):
    """aioresponses that builds responses aiohttp 3.14 accepts."""

    def add(self, url: Any, method: str = "GET", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", _CompatResponse)
        super().add(url, method, *args, **kwargs)
