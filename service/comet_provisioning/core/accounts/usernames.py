"""Comet usernames, chosen as the original module chooses them, made valid and unique.

Order of preference: the requested name, the customer's e-mail, first name + account id, "user".
Only Comet's allowed characters survive, and a name shorter than its server's minimum (6 characters
before Comet 21.9.10, 1 after; 6 while the server's version is unknown) is padded with digits, as
the original module pads every name. Uniqueness is not decided here: the store reserves a name per
server with a unique index, and a name taken there or on Comet gets the original's `_NNNN` suffix.
"""

from __future__ import annotations

import re
import secrets

MIN_LENGTH = 6
MAX_LENGTH = 64
_DISALLOWED = re.compile(r"[^a-zA-Z0-9_.@-]")


def sanitize(raw: str) -> str:
    return _DISALLOWED.sub("", raw.strip())[:MAX_LENGTH]


def base_username(requested: str, email: str, first_name: str, account_id: str) -> str:
    """The first candidate, before any collision handling."""
    for raw in (requested, email, f"{first_name}{account_id[:8]}" if first_name else ""):
        candidate = sanitize(raw)
        if candidate:
            return candidate
    return "user"


def fit(name: str, min_length: int | None) -> str:
    """Pads with random digits up to the server's minimum length (None: not known, 6)."""
    missing = (MIN_LENGTH if min_length is None else min_length) - len(name)
    if missing <= 0:
        return name
    return name + "".join(secrets.choice("0123456789") for _ in range(missing))


def with_suffix(base: str) -> str:
    """The original module's collision rule: append `_` and four random digits."""
    suffix = "_" + "".join(secrets.choice("0123456789") for _ in range(4))
    return base[: MAX_LENGTH - len(suffix)] + suffix
