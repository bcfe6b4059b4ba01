"""Page tokens (AIP-158): opaque to callers, bound to the list they came from.

A token is urlsafe base64 of {"o": offset, "s": scope}; the scope is a digest of the method and its
filters, so a token replayed against another list or filter is rejected instead of misread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass

from .errors import Violations

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "Page", "decode_page"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Page:
    offset: int
    size: int
    scope: str

    @property
    def fetch(self) -> int:
        """Rows to fetch: one more than the page, to learn whether another page follows."""
        return self.size + 1

    def next_token(self, fetched: int) -> str:
        """The token for the page after this one, or "" if `fetched` (≤ fetch) shows it was the last."""
        if fetched <= self.size:
            return ""
        payload = json.dumps({"o": self.offset + self.size, "s": self.scope}, separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _scope(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def decode_page(page_size: int, page_token: str, *scope: str, violations: Violations | None = None) -> Page:
    """Validate size and token; problems go to `violations` (raised here when none is given)."""
    own = violations is None
    found = Violations() if violations is None else violations
    if page_size < 0:
        found.add("page_size", "must not be negative")
    size = min(page_size, MAX_PAGE_SIZE) if page_size > 0 else DEFAULT_PAGE_SIZE
    digest = _scope(*scope)
    offset = 0
    if page_token:
        try:
            padded = page_token + "=" * (-len(page_token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            offset = int(data["o"])
            if data["s"] != digest or offset < 0:
                raise ValueError("scope")
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            found.add("page_token", "not a token from a previous response of this list and filter")
    if own:
        found.raise_if_any("INVALID_PAGE_TOKEN" if page_token and page_size >= 0 else "INVALID_REQUEST")
    return Page(offset=offset, size=size, scope=digest)
