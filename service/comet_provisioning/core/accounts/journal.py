"""Step recording: every step of an operation becomes an event in the account's log.

Events are collected here and written in the same transaction as the account state they led to,
so the log and the journal never disagree. Errors are recorded by class and message only: Comet
client errors never carry secrets, and nothing else is written.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from comet_provisioning.core.accounts.model import Event

SUCCEEDED = "SUCCEEDED"
SKIPPED = "SKIPPED"
FAILED = "FAILED"


@dataclass
class StepOutcome:
    outcome: str = SUCCEEDED
    note: str = ""

    def skipped(self, note: str = "") -> None:
        self.outcome = SKIPPED
        self.note = note


@dataclass
class Journal:
    account_id: str
    operation: str
    request_id: str = ""
    pending: list[Event] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str, endpoint: str = "") -> Iterator[StepOutcome]:
        outcome = StepOutcome()
        started = time.perf_counter()
        try:
            yield outcome
        except BaseException as exc:
            self._add(name, endpoint, FAILED, started, _describe(exc))
            raise
        self._add(name, endpoint, outcome.outcome, started, outcome.note)

    def note(self, name: str, outcome: str, detail: str = "") -> None:
        self._add(name, "", outcome, time.perf_counter(), detail)

    def take(self) -> list[Event]:
        events, self.pending = self.pending, []
        return events

    def _add(self, step: str, endpoint: str, outcome: str, started: float, error: str) -> None:
        self.pending.append(
            Event(
                account_id=self.account_id,
                operation=self.operation,
                step=step,
                outcome=outcome,
                duration_ms=round((time.perf_counter() - started) * 1e3, 3),
                comet_endpoint=endpoint,
                error=error,
                request_id=self.request_id,
            )
        )


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:1000]
