"""A Comet Server release, and the behaviours that depend on it (contract §5).

Call sites ask a named question (``version.organizations``) instead of comparing numbers, so each
release boundary is written down once, here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["CometVersion"]

_VERSION_RE = re.compile(r"^\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@dataclass(frozen=True, slots=True, order=True)
class CometVersion:
    """A release number such as ``25.9.0``; ordered by its numbers, ``text`` kept as the server sent it."""

    major: int
    minor: int = 0
    patch: int = 0
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: str) -> CometVersion:
        """Tolerant: ``"25.9.0"``, ``" 25.9.0-rc1 "``, ``"v22.3"`` (patch 0).

        ``ValueError`` when the text does not start with a number."""
        match = _VERSION_RE.match(text)
        if match is None:
            raise ValueError(f"not a Comet version: {text!r}")
        major, minor, patch = (int(part) if part else 0 for part in match.groups())
        return cls(major, minor, patch, text.strip())

    def at_least(self, other: str) -> bool:
        """``self >= other`` for a version written as text."""
        return self >= CometVersion.parse(other)

    def __str__(self) -> str:
        return self.text or f"{self.major}.{self.minor}.{self.patch}"

    # -- behaviour switches -----------------------------------------------------------------------

    @property
    def require_password_change(self) -> bool:
        """``add-user`` accepts ``RequirePasswordChange``."""
        return self >= _V20_3_4

    @property
    def uninstall_config(self) -> bool:
        """``delete-user`` accepts ``UninstallConfig`` (tell the clients to uninstall)."""
        return self >= _V20_3_5

    @property
    def organizations(self) -> bool:
        """Organisations exist: ``TargetOrganization`` is accepted."""
        return self >= _V22_3_7

    @property
    def username_filter(self) -> bool:
        """``dispatcher/list-active`` accepts ``UserNameFilter``."""
        return self >= _V22_6_7

    @property
    def min_username_length(self) -> int:
        """Usernames need 6 characters before 21.9.10, one after."""
        return 1 if self >= _V21_9_10 else 6

    @property
    def user_not_found_may_be_403(self) -> bool:
        """Servers from 20.9.0 to before 22.4.0 answered 403, the status of bad credentials, for an
        unknown ``TargetUser``."""
        return _V20_9_0 <= self < _V22_4_0

    @property
    def profile_in_write_replies(self) -> bool:
        """``set-user-profile-hash`` replies with ``{ProfileHash, Profile}``, and
        ``request-storage-vault`` takes a ``ProfileHash`` and replies with the new hash and profile."""
        return self >= _V25_6_8


_V20_3_4 = CometVersion(20, 3, 4)
_V20_3_5 = CometVersion(20, 3, 5)
_V20_9_0 = CometVersion(20, 9, 0)
_V21_9_10 = CometVersion(21, 9, 10)
_V22_3_7 = CometVersion(22, 3, 7)
_V22_4_0 = CometVersion(22, 4, 0)
_V22_6_7 = CometVersion(22, 6, 7)
_V25_6_8 = CometVersion(25, 6, 8)
