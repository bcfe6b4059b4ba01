"""Behaviour profiles: how the simulated server answers where the Comet contract leaves it open (§6).

A real Comet Server may answer a duplicate `add-user` with 400 or 500, in English or Spanish, an
unknown policy with 200 or an error, an unknown user with 400 or 403, a stale hash with any status,
empty maps as `null`, and may sit behind a proxy that loses replies and on a clock that is not the
client's. A `Behaviour` is one such server: a set of switches, each defaulting to the reference
reply. Handlers ask it a question ("what is the reply to a duplicate user?") instead of comparing
switch values themselves, so each switch's logic lives here, in one place.

Named presets (`BEHAVIOUR_PROFILES`) let service tests run across every reading of the contract.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import messages
from .versions import ServerVersion

__all__ = [
    "BEHAVIOUR_PROFILES",
    "DUPLICATE_USER_REPLIES",
    "PRESETS",
    "STALE_HASH_REPLIES",
    "UNKNOWN_POLICY_REPLIES",
    "UNKNOWN_USER_REPLIES",
    "Behaviour",
    "SwitchSpec",
    "resolve_behaviour",
    "switch_specs",
]

# code-400: {"Status":400,"Message":"ERR_USER_EXISTS"}; message-N: status N with a (translated) text.
DUPLICATE_USER_REPLIES = ("code-400", "message-400", "message-500")
# ok-empty: 200 with an empty Policy and PolicyHash ""; error-400: Status 400 with PolicyHash "";
# error-500: Status 500 without a PolicyHash at all.
UNKNOWN_POLICY_REPLIES = ("ok-empty", "error-400", "error-500")
# by-version: 403 on 20.9.0 to 22.3.x, else 400.
UNKNOWN_USER_REPLIES = ("by-version", "400", "403")
# code-409: {"Status":409,"Message":"ERR_..._HASH_MISMATCH"}; message-N: status N with a text.
STALE_HASH_REPLIES = ("code-409", "message-400", "message-500")

ERR_USER_EXISTS = "ERR_USER_EXISTS"
_STALE_CODES = {"profile": "ERR_PROFILE_HASH_MISMATCH", "policy": "ERR_POLICY_HASH_MISMATCH"}
_STALE_TEXTS = {"profile": messages.PROFILE_CHANGED, "policy": messages.POLICY_CHANGED}

# Profile collections an old server sends as `null` when empty.
_NULLABLE_PROFILE_KEYS = ("Destinations", "Sources", "Devices", "Emails")

_EMPTY_GROUP_POLICY: Mapping[str, Any] = MappingProxyType(
    {"Description": "", "OrganizationID": "", "Policy": {}, "DefaultUserPolicy": False}
)


def _switch(default: Any, help_text: str, *, choices: tuple[str, ...] | None = None, kind: type = str) -> Any:
    return field(default=default, metadata={"help": help_text, "choices": choices, "kind": kind})


@dataclass(frozen=True)
class SwitchSpec:
    """One switch as the CLI and the control API see it."""

    name: str
    kind: type
    choices: tuple[str, ...] | None
    help: str
    default: Any


@dataclass(frozen=True)
class Behaviour:
    """One reading of the contract's open points. The defaults are the reference replies."""

    duplicate_user: str = _switch(
        "code-400", "reply to add-user for an existing name", choices=DUPLICATE_USER_REPLIES
    )
    unknown_policy: str = _switch(
        "ok-empty", "reply to policies/get for an unknown id", choices=UNKNOWN_POLICY_REPLIES
    )
    unknown_user: str = _switch(
        "by-version", "status for an unknown TargetUser", choices=UNKNOWN_USER_REPLIES
    )
    unknown_user_message: str = _switch(messages.USER_NOT_FOUND, "Message for an unknown TargetUser")
    stale_hash: str = _switch(
        "code-409", "reply to a stale RequireHash / CheckPolicyHash / ProfileHash", choices=STALE_HASH_REPLIES
    )
    language: str = _switch("en", "language of every Message text", choices=messages.LANGUAGES)
    null_empty: bool = _switch(False, "answer empty maps and lists as JSON null", kind=bool)
    proxy_502_every: int = _switch(
        0, "a proxy answers every Nth admin call with an HTML 502 (0: off)", kind=int
    )
    proxy_after_fraction: float = _switch(
        0.5, "share of the proxy's 502s sent after the call took effect (its reply lost)", kind=float
    )
    clock_offset_s: float = _switch(0.0, "seconds the server's clock is ahead of the host's", kind=float)
    version: str | None = _switch(None, "Comet version to present when this profile is selected")

    def __post_init__(self) -> None:
        for spec in switch_specs():
            value = getattr(self, spec.name)
            if spec.name == "version" and value is None:
                continue
            if not _is_kind(value, spec.kind):
                raise ValueError(f"{spec.name} must be {spec.kind.__name__}, got {value!r}")
            if spec.choices is not None and value not in spec.choices:
                raise ValueError(f"{spec.name} must be one of {spec.choices}, got {value!r}")
            if spec.kind is float:
                object.__setattr__(self, spec.name, float(value))
        if self.proxy_502_every < 0:
            raise ValueError("proxy_502_every must be >= 0")
        if not 0.0 <= self.proxy_after_fraction <= 1.0:
            raise ValueError("proxy_after_fraction must be between 0 and 1")
        if not self.unknown_user_message:
            raise ValueError("unknown_user_message must not be empty")
        if self.version is not None:
            ServerVersion(self.version)

    # --- building ---------------------------------------------------------------------------

    def with_changes(self, changes: Mapping[str, Any]) -> Behaviour:
        """A copy with some switches changed (validated; unknown names are refused)."""
        known = {spec.name for spec in switch_specs()}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown behaviour switch(es) {unknown}; expected some of {sorted(known)}")
        return dataclasses.replace(self, **dict(changes))

    def preset_name(self) -> str | None:
        """The name of the preset this behaviour is exactly, if any."""
        return next((name for name, preset in PRESETS.items() if preset == self), None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"profile": self.preset_name()}
        out.update({spec.name: getattr(self, spec.name) for spec in switch_specs()})
        return out

    # --- the questions handlers ask ---------------------------------------------------------

    def duplicate_user_reply(self) -> tuple[int, str]:
        """(Status, Message) for add-user of a name that exists."""
        if self.duplicate_user == "code-400":
            return 400, ERR_USER_EXISTS
        return (400 if self.duplicate_user == "message-400" else 500), messages.USER_EXISTS

    def unknown_user_reply(self, version: ServerVersion) -> tuple[int, str]:
        """(Status, Message) for a TargetUser that does not exist."""
        if self.unknown_user == "by-version":
            status = version.user_not_found_status
        else:
            status = int(self.unknown_user)
        return status, self.unknown_user_message

    def unknown_policy_reply(self) -> dict[str, Any]:
        """The whole `policies/get` reply for a PolicyID that does not exist."""
        if self.unknown_policy == "ok-empty":
            return {
                "Status": 200,
                "Message": messages.OK,
                "Policy": dict(_EMPTY_GROUP_POLICY),
                "PolicyHash": "",
            }
        if self.unknown_policy == "error-400":
            return {"Status": 400, "Message": messages.POLICY_NOT_FOUND, "PolicyHash": ""}
        return {"Status": 500, "Message": messages.POLICY_NOT_FOUND}

    def stale_hash_reply(self, what: str) -> tuple[int, str]:
        """(Status, Message) when a hash-checked write of a "profile" or "policy" finds it changed."""
        if self.stale_hash == "code-409":
            return 409, _STALE_CODES[what]
        return (400 if self.stale_hash == "message-400" else 500), _STALE_TEXTS[what]

    def profile_view(self, profile: dict[str, Any]) -> dict[str, Any]:
        """A rendered profile as this server sends it (`profile` is a copy the caller owns)."""
        if self.null_empty:
            for key in _NULLABLE_PROFILE_KEYS:
                if profile.get(key) in ({}, []):
                    profile[key] = None
        return profile

    def collection(self, value: Any) -> Any:
        """A top-level map or list reply: `null` instead of empty when this server does that."""
        if self.null_empty and value in ({}, []):
            return None
        return value

    def localise(self, body: Any) -> Any:
        """The reply with its `Message` in this server's language (codes stay as they are)."""
        if self.language == "en" or not isinstance(body, dict):
            return body
        text = body.get("Message")
        if not isinstance(text, str):
            return body
        return {**body, "Message": messages.translate(text, self.language)}


def _is_kind(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, kind)


def switch_specs() -> tuple[SwitchSpec, ...]:
    """Every switch of `Behaviour`, with its type, choices, help and default."""
    return _SPECS


_SPECS = tuple(
    SwitchSpec(f.name, f.metadata["kind"], f.metadata["choices"], f.metadata["help"], f.default)
    for f in dataclasses.fields(Behaviour)
)

_LEGACY = Behaviour(
    version="20.9.0",
    unknown_user="403",
    # The same wording as bad admin credentials: only the admin's other calls tell them apart.
    unknown_user_message=messages.UNAUTHORISED,
    duplicate_user="message-500",
    unknown_policy="error-400",
    null_empty=True,
    stale_hash="message-400",
)

PRESETS: Mapping[str, Behaviour] = MappingProxyType(
    {
        "reference": Behaviour(),
        "legacy": _LEGACY,
        "translated": Behaviour(language="es", duplicate_user="message-500", unknown_policy="error-500"),
        # Clock ahead: to a client that compares CreateTime with its own clock, a user someone
        # created just before its add-user looks created after it.
        "hostile": dataclasses.replace(
            _LEGACY, proxy_502_every=7, proxy_after_fraction=0.5, clock_offset_s=45.0
        ),
    }
)

BEHAVIOUR_PROFILES: tuple[str, ...] = tuple(PRESETS)


def resolve_behaviour(
    behaviour: str | Behaviour | None = None, overrides: Mapping[str, Any] | None = None
) -> Behaviour:
    """A preset by name (or a `Behaviour` as is, or the reference), with `overrides` applied."""
    if behaviour is None:
        base = PRESETS["reference"]
    elif isinstance(behaviour, Behaviour):
        base = behaviour
    else:
        try:
            base = PRESETS[behaviour]
        except KeyError:
            raise ValueError(
                f"unknown behaviour profile {behaviour!r}; expected one of {BEHAVIOUR_PROFILES}"
            ) from None
    return base.with_changes(overrides) if overrides else base
