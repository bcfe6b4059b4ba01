"""Small typed results. Profiles and policies stay plain JSON dicts so unknown fields survive."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .version import CometVersion

__all__ = [
    "JSONDict",
    "MetaVersion",
    "NewPolicyResult",
    "PolicyAndHash",
    "ProfileAndHash",
    "RequestedVault",
    "SessionKey",
    "UpdatedProfile",
    "parse_version",
]

JSONDict = dict[str, Any]
"""A decoded JSON object, kept as is (never parsed into a fixed model)."""


def parse_version(text: str) -> tuple[int, int, int] | None:
    """``"23.12.3"`` → ``(23, 12, 3)``; ``None`` when the text does not start with a version."""
    try:
        version = CometVersion.parse(text)
    except ValueError:
        return None
    return version.major, version.minor, version.patch


@dataclass(frozen=True, slots=True)
class MetaVersion:
    """The ``meta/version`` reply: the proof that a server is reachable and accepts our credentials."""

    version: str
    raw: JSONDict = field(repr=False)

    @property
    def version_tuple(self) -> tuple[int, int, int] | None:
        """The numeric version, for feature gates such as ``RequirePasswordChange`` (≥ 20.3.4)."""
        return parse_version(self.version)

    @property
    def comet_version(self) -> CometVersion | None:
        """The release with its feature switches; None when ``version`` is not a version number."""
        try:
            return CometVersion.parse(self.version)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class ProfileAndHash:
    """A user profile and the hash that must accompany a write of it."""

    profile: JSONDict
    hash: str


@dataclass(frozen=True, slots=True)
class UpdatedProfile:
    """The outcome of ``update_user_profile``.

    ``profile`` is what Comet now holds (the server's copy when it sent one); ``profile_hash`` is
    the hash to send with the next write of it, or None when a write's reply carried none (servers
    before 25.6.8): then the next write must read first. ``written`` is False when nothing needed
    changing (the hash is then the one read).
    """

    profile: JSONDict
    profile_hash: str | None
    written: bool


@dataclass(frozen=True, slots=True)
class RequestedVault:
    """A vault added by ``request-storage-vault``; from 25.6.8 with the user's profile and hash after it."""

    destination_id: str
    profile: JSONDict | None
    profile_hash: str | None


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
