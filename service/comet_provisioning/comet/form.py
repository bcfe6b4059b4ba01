"""`application/x-www-form-urlencoded` bodies, byte for byte what `urllib.parse.urlencode` makes.

urlencode percent-encodes in Python, one byte at a time: for a 3 KB profile in `ProfileData` that
is most of the cost of building the request. A long ASCII value (JSON is sent ASCII-only) is
encoded instead with one `str.replace` per character that needs escaping, each a C-speed pass;
short and non-ASCII values go through the standard library as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote_plus

__all__ = ["encode_form"]

# quote_plus(): letters, digits and "_.-~" stay, a space becomes "+", every other byte is %XX.
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")
# "%" first, since the escapes that follow introduce new ones; the space last, since it becomes "+".
_ESCAPES = (
    ("%", "%25"),
    *((char, f"%{ord(char):02X}") for char in map(chr, range(128)) if char not in _SAFE and char not in "% "),
    (" ", "+"),
)
_LONG = 256  # below this, quote_plus's own fast path wins


def _quote(value: str) -> str:
    if value.isalnum() and value.isascii():
        return value  # letters and digits only: nothing to escape (most field names and values)
    if len(value) < _LONG or not value.isascii():
        return quote_plus(value)
    for char, escaped in _ESCAPES:
        if char in value:
            value = value.replace(char, escaped)
    return value


def encode_form(form: Mapping[str, str]) -> bytes:
    return "&".join(f"{_quote(key)}={_quote(value)}" for key, value in form.items()).encode("ascii")
