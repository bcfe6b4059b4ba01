"""Helpers for the contract tests: a client configured for a simulator, and a recording observer."""

from __future__ import annotations

from typing import Any

from comet_provisioning.comet import CallRecord, CometClient, CometServerConfig, ErrorHints
from comet_provisioning.sim import CometSimulator

from tests.fakes.memory_comet import MemoryComet
from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD

USER_PASSWORD = "user-pass-1234"

CONTRACT_ENDPOINTS = frozenset(
    {
        "meta/version",
        "account/properties",
        "add-user",
        "get-user-profile",
        "get-user-profile-and-hash",
        "set-user-profile-hash",
        "set-user-profile",
        "reset-user-password",
        "delete-user",
        "list-users",
        "list-users-full",
        "policies/list",
        "policies/get",
        "policies/set",
        "policies/new",
        "request-storage-vault-providers",
        "request-storage-vault",
        "dispatcher/list-active",
        "dispatcher/refetch-profile",
        "revoke-device",
        "get-jobs-for-user",
        "get-jobs-for-custom-search",
        "account/session-start",
        "account/session-start-as-user",
        "branding/generate-client/linuxgeneric",
    }
)
"""Every endpoint of the contract table (§2); the download with one concrete platform."""


class RecordingObserver:
    """Keeps every CallRecord the client reports."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def on_call(self, record: CallRecord) -> None:
        self.records.append(record)

    def outcomes(self, endpoint: str | None = None) -> list[str]:
        return [r.outcome for r in self.records if endpoint is None or r.endpoint == endpoint]


def sim_config(sim: CometSimulator, **overrides: Any) -> CometServerConfig:
    """Settings for a client of ``sim``: fast retries so fault tests stay quick."""
    assert sim.base_url is not None, "start the simulator first"
    values: dict[str, Any] = {
        "server_id": "sim",
        "base_url": sim.base_url,
        "username": SIM_ADMIN,
        "password": SIM_PASSWORD,
        "max_retries": 3,
        "retry_backoff_base_s": 0.001,
        "retry_backoff_max_s": 0.005,
        "connect_timeout_s": 2,
        "request_timeout_s": 5,
    }
    values.update(overrides)
    return CometServerConfig(**values)


def sim_client(
    sim: CometSimulator,
    observer: RecordingObserver | None = None,
    hints: ErrorHints | None = None,
    **overrides: Any,
) -> CometClient:
    """A client of ``sim``: through the transport seam when it is served in memory, else over HTTP."""
    transport = sim.transport() if isinstance(sim, MemoryComet) else None
    return CometClient(sim_config(sim, **overrides), transport=transport, observer=observer, hints=hints)


def search_clause(field: str, operator: str, value: str) -> dict[str, Any]:
    return {
        "ClauseType": "",
        "RuleField": field,
        "RuleOperator": operator,
        "RuleValue": value,
        "ClauseChildren": [],
    }


def and_clause(*children: dict[str, Any]) -> dict[str, Any]:
    return {
        "ClauseType": "and",
        "RuleField": "",
        "RuleOperator": "",
        "RuleValue": "",
        "ClauseChildren": list(children),
    }
