"""Helpers shared by the Comet client tests."""

from __future__ import annotations

from typing import Any

from comet_provisioning.comet import (
    CallObserver,
    CallRecord,
    CometClient,
    CometServerConfig,
    ErrorHints,
    ServerInfo,
)

from tests.fakes.memory_comet import MEMORY_BASE_URL, MemoryComet

BASE = MEMORY_BASE_URL
ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-Pa55word-XYZ"
WRONG_PASSWORD = "not-the-admin-password"
AUTH = {"Username": ADMIN, "AuthType": "Password", "Password": ADMIN_PASSWORD}


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


def memory_client(
    comet: MemoryComet,
    *,
    observer: CallObserver | None = None,
    learned: list[ServerInfo] | None = None,
    hints: ErrorHints | None = None,
    config: CometServerConfig | None = None,
    **overrides: Any,
) -> CometClient:
    """The real client on ``comet`` in memory; ``learned`` collects every ``on_server_info`` call."""
    return CometClient(
        config or make_config(**overrides),
        transport=comet.transport(),
        observer=observer,
        hints=hints,
        on_server_info=learned.append if learned is not None else None,
    )


def carm(status: int = 200, message: str = "OK") -> dict[str, Any]:
    return {"Status": status, "Message": message}
