"""Small typed results. Profiles and policies stay plain JSON dicts so unknown fields survive."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "JSONDict",
    "MetaVersion",
    "NewPolicyResult",
    "PolicyAndHash",
    "ProfileAndHash",
    "SessionKey",
    "parse_version",
]

JSONDict = dict[str, Any]
"""A decoded JSON object, kept as is (never parsed into a fixed model)."""

_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``"23.12.3"`` → ``(23, 12, 3)``; ``None`` when the text has no such prefix."""
    match = _VERSION_RE.match(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


@dataclass(frozen=True, slots=True)
class MetaVersion:
    """The ``meta/version`` reply: the proof that a server is reachable and accepts our credentials."""

    version: str
    raw: JSONDict = field(repr=False)

    @property
    def version_tuple(self) -> tuple[int, int, int] | None:
        """The numeric version, for feature gates such as ``RequirePasswordChange`` (≥ 20.3.4)."""
        return parse_version(self.version)


@dataclass(frozen=True, slots=True)
class ProfileAndHash:
    """A user profile and the hash that must accompany a write of it."""

    profile: JSONDict
    hash: str


@dataclass(frozen=True, slots=True)
class PolicyAndHash:
    """A group policy and its hash (for ``policies/set`` with ``CheckPolicyHash``)."""

    policy: JSONDict
    hash: str


@dataclass(frozen=True, slots=True)
class NewPolicyResult:
    """What ``policies/new`` answered: the contract documents a hash, some servers also send an id."""

    policy_hash: str | None
    policy_id: str | None


@dataclass(frozen=True, slots=True)
class SessionKey:
    """A single-sign-on session (``key`` is a secret: it is never part of the repr)."""

    key: str = field(repr=False)
    type: str
