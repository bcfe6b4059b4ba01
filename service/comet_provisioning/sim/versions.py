"""Comet Server version presentation.

The simulator can pretend to be any Comet release from 18.9.2 on; the replies that changed between
releases (contract §5) are decided here, in one place, so handlers ask a question ("does this version
return the new hash?") instead of comparing version numbers themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DEFAULT_VERSION", "OLD_VERSION", "ServerVersion"]

DEFAULT_VERSION = "25.9.0"
OLD_VERSION = "20.9.0"

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

_CODENAME = "Voyager"


def _parse(text: str) -> tuple[int, int, int]:
    match = _VERSION_RE.match(text.strip())
    if match is None:
        raise ValueError(f"invalid Comet version {text!r}: expected X.Y.Z")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


@dataclass(frozen=True)
class ServerVersion:
    """A Comet release number with the behaviour switches that depend on it."""

    text: str

    def __post_init__(self) -> None:
        if self.parts < (18, 9, 2):
            raise ValueError(f"Comet {self.text} is older than the supported minimum 18.9.2")

    @property
    def parts(self) -> tuple[int, int, int]:
        return _parse(self.text)

    def at_least(self, text: str) -> bool:
        return self.parts >= _parse(text)

    @property
    def codename(self) -> str:
        return _CODENAME

    # --- behaviour switches (contract §5) -------------------------------------------------

    @property
    def user_not_found_status(self) -> int:
        """Servers 20.9 to 22.3 answered 403 for an unknown TargetUser; others answer 400."""
        return 403 if (20, 9, 0) <= self.parts < (22, 4, 0) else 400

    @property
    def min_username_length(self) -> int:
        """Usernames need 6 characters before 21.9.10, one after."""
        return 1 if self.at_least("21.9.10") else 6

    @property
    def supports_require_password_change(self) -> bool:
        return self.at_least("20.3.4")

    @property
    def supports_uninstall_config(self) -> bool:
        return self.at_least("20.3.5")

    @property
    def supports_organizations(self) -> bool:
        return self.at_least("22.3.7")

    @property
    def supports_username_filter(self) -> bool:
        return self.at_least("22.6.7")

    @property
    def has_last_suspended(self) -> bool:
        return self.at_least("22.12.8")

    @property
    def has_login_protection(self) -> bool:
        return self.at_least("24.12.2")

    @property
    def set_hash_returns_profile(self) -> bool:
        return self.at_least("25.6.8")

    @property
    def vault_request_returns_profile(self) -> bool:
        """From 25.6.8 request-storage-vault takes an optional ProfileHash (a conditional request)
        and returns ProfileHash and Profile beside DestinationID."""
        return self.at_least("25.6.8")
