"""What every admin endpoint handler receives and the small helpers they share."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .. import messages
from ..behaviour import Behaviour
from ..context import SimContext
from ..state import AdminAccount, SimState, UserRecord

__all__ = [
    "CallContext",
    "CometError",
    "Handler",
    "Reply",
    "carm",
    "ok",
    "parse_bool",
]

Reply = Any  # a JSON-able value, or an already-sent web.StreamResponse
Handler = Callable[["CallContext"], Awaitable[Reply]]


class CometError(Exception):
    """An application error: answered as HTTP 200 with body `{"Status": status, "Message": message}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def carm(status: int, message: str) -> dict[str, Any]:
    """Comet's generic reply, CometAPIResponseMessage."""
    return {"Status": status, "Message": message}


def ok() -> dict[str, Any]:
    return carm(200, messages.OK)


def parse_bool(value: str | None) -> bool:
    """SDKs send booleans as 1/0 or true/false."""
    return value is not None and value.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class CallContext:
    """One authenticated admin call."""

    sim: SimContext
    request: web.Request
    endpoint: str
    form: Mapping[str, str]
    admin: AdminAccount
    abort_stream_at: int | None = None

    @property
    def state(self) -> SimState:
        return self.sim.state

    @property
    def behaviour(self) -> Behaviour:
        return self.sim.behaviour

    def param(self, name: str, default: str = "") -> str:
        return self.form.get(name, default)

    def require(self, name: str) -> str:
        value = self.form.get(name)
        if value is None or value == "":
            raise CometError(400, f"Missing required parameter '{name}'")
        return value

    def json_param(self, name: str, *, required: bool = True) -> Any:
        raw = self.form.get(name)
        if raw is None or raw == "":
            if required:
                raise CometError(400, f"Missing required parameter '{name}'")
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise CometError(400, f"Invalid JSON in parameter '{name}'") from None

    def json_object_param(self, name: str, *, required: bool = True) -> dict[str, Any] | None:
        value = self.json_param(name, required=required)
        if value is None and not required:
            return None
        if not isinstance(value, dict):
            raise CometError(400, f"Parameter '{name}' must be a JSON object")
        return value

    def target_user(self) -> UserRecord:
        """The TargetUser's record, or the behaviour's (and version's) "user not found" error."""
        record = self.state.users.get(self.form.get("TargetUser", ""))
        if record is None:
            raise CometError(*self.behaviour.unknown_user_reply(self.state.version))
        return record

    def profile(self, record: UserRecord) -> dict[str, Any]:
        """A user's profile as this server returns it (effective `Policy` included)."""
        return self.behaviour.profile_view(self.state.render_profile(record))

    def collection(self, value: Any) -> Any:
        """A top-level map or list reply, as this server returns an empty one."""
        return self.behaviour.collection(value)
