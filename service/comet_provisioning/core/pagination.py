"""Page tokens (AIP-158): opaque to callers, bound to the list they came from.

A token is urlsafe base64 of {"o": offset, "s": scope} or, for lists that change while they are
paged (accounts, events), {"k": [the sort key of the last row returned], "s": scope}: keyset paging
neither repeats nor skips a row when rows are added meanwhile. The scope is a digest of the method
and its filters, so a token replayed against another list or filter is rejected instead of misread.
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
    # Keyset paging: the sort key of the last row of the previous page (None on the first page).
    after: tuple[str | int, ...] | None = None

    @property
    def fetch(self) -> int:
        """Rows to fetch: one more than the page, to learn whether another page follows."""
        return self.size + 1

    def next_token(self, fetched: int) -> str:
        """The token for the page after this one, or "" if `fetched` (≤ fetch) shows it was the last."""
        if fetched <= self.size:
            return ""
        return _encode({"o": self.offset + self.size, "s": self.scope})

    def next_keyset_token(self, fetched: int, last_key: tuple[str | int, ...]) -> str:
        """Keyset paging: the token after the row with `last_key`, or "" on the last page."""
        if fetched <= self.size:
            return ""
        return _encode({"k": list(last_key), "s": self.scope})


def _encode(payload: dict[str, object]) -> str:
    text = json.dumps(payload, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


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
    after: tuple[str | int, ...] | None = None
    if page_token:
        try:
            padded = page_token + "=" * (-len(page_token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if data["s"] != digest:
                raise ValueError("scope")
            if "k" in data:
                after = tuple(_key_part(part) for part in data["k"])
            else:
                offset = int(data["o"])
                if offset < 0:
                    raise ValueError("offset")
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            found.add("page_token", "not a token from a previous response of this list and filter")
    if own:
        found.raise_if_any("INVALID_PAGE_TOKEN" if page_token and page_size >= 0 else "INVALID_REQUEST")
    return Page(offset=offset, size=size, scope=digest, after=after)


def _key_part(value: object) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("key")
    return value
