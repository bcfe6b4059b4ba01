"""The accounts domain: an account, its status and the journal of its non-idempotent steps, its log
events, and the errors the accounts core raises about them. Plain data: persistence maps it to rows
(store/), the API to messages (api/)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    FAILED = "FAILED"


class StepState(enum.StrEnum):
    """Journal of a step that Comet does not make idempotent (add-user, request-storage-vault).

    ATTEMPTED is written *before* the request goes out, so after a lost reply or a crash the next
    run knows it must look at Comet instead of sending the request again.
    """

    NOT_STARTED = ""
    ATTEMPTED = "ATTEMPTED"
    DONE = "DONE"


class LimitsState(enum.StrEnum):
    """Whether the product's limits are in force on the account's Comet user."""

    UNSPECIFIED = ""
    NO_COMET_USER = "NO_USER"
    PENDING = "PENDING"
    APPLIED = "APPLIED"
    SUSPENDED = "SUSPENDED"


class Origin(enum.StrEnum):
    """Why this service may write to the account's Comet user: it proved it created it, or an
    operator imported it. Anything else is someone else's and is never written to."""

    NONE = ""
    CREATED = "CREATED"
    IMPORTED = "IMPORTED"


@dataclass
class Customer:
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    reference: str = ""


@dataclass
class Failure:
    step: str
    reason: str
    message: str


@dataclass
class Account:
    id: str
    product_id: str
    customer: Customer
    options: dict[str, int]
    status: Status
    create_time: dt.datetime
    update_time: dt.datetime
    requested_username: str = ""
    username: str = ""
    server_id: str = ""
    suspend_reason: str = ""
    failure: Failure | None = None
    provision_requested: bool = False
    password_generated: bool = False
    add_user: StepState = StepState.NOT_STARTED
    vault: StepState = StepState.NOT_STARTED
    vault_id: str = ""
    pending_password_enc: bytes | None = field(default=None, repr=False)
    usage: dict[str, Any] | None = None
    usage_sync_time: dt.datetime | None = None
    provision_time: dt.datetime | None = None
    terminate_time: dt.datetime | None = None
    limits_state: LimitsState = LimitsState.UNSPECIFIED
    comet_user_origin: Origin = Origin.NONE
    # The span of this account's add-user attempts for its current username, on Comet's clock.
    add_user_window_start_ms: int | None = None
    add_user_window_end_ms: int | None = None
    provision_attempts: int = 0
    next_attempt_time: dt.datetime | None = None
    provision_deadline: dt.datetime | None = None
    generated_password_expire_time: dt.datetime | None = None
    version: int = 0

    @property
    def comet_user_may_exist(self) -> bool:
        """True once add-user may have reached Comet: from then on the account never moves."""
        return self.add_user is not StepState.NOT_STARTED

    @property
    def owns_comet_user(self) -> bool:
        """True when this service may write to the account's Comet user."""
        return self.add_user is StepState.DONE and self.comet_user_origin is not Origin.NONE


@dataclass(frozen=True)
class Event:
    """One step of one operation, for the account's event log. Never holds a secret."""

    account_id: str
    operation: str
    step: str
    outcome: str  # SUCCEEDED | SKIPPED | FAILED
    duration_ms: float
    comet_endpoint: str = ""
    error: str = ""
    request_id: str = ""
    id: int = 0
    create_time: dt.datetime | None = None


@dataclass(frozen=True)
class AccountFilter:
    server_id: str = ""
    product_id: str = ""
    status: Status | None = None
    customer_reference: str = ""


class StaleAccount(Exception):
    """The account changed since it was read (another writer won); read it again and redo."""


class UsernameTaken(Exception):
    """Another live account holds the username on the server."""

    def __init__(self, server_id: str, username: str) -> None:
        super().__init__(f"username {username!r} is held on server {server_id}")
        self.server_id = server_id
        self.username = username
