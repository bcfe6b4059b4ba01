"""Masking secrets out of anything that is logged, decided by the field's KEY, never its value.

Masking by value (looking for the password string) fails for values we do not know about, such as
a password an end user typed into a profile; masking by key covers them all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["JSON_FORM_FIELDS", "MASK", "is_sensitive_key", "redact_form", "redact_json"]

MASK = "***"
"""The fixed replacement: it never varies with the secret's length or content."""

JSON_FORM_FIELDS = frozenset({"ProfileData", "Policy", "Query", "UninstallConfig", "AdminOptions"})
"""Form fields whose value is JSON text; they are redacted inside, recursively."""

_SENSITIVE_FRAGMENTS = ("password", "secret", "token", "sessionkey", "totp", "recovery")


def is_sensitive_key(key: str) -> bool:
    """True when a field named ``key`` may hold a secret (case-insensitive substring match)."""
    lowered = key.lower()
    return any(fragment in lowered for fragment in _SENSITIVE_FRAGMENTS)


def redact_json(value: Any) -> Any:
    """A copy of decoded JSON where every value under a sensitive key is replaced by ``MASK``."""
    if isinstance(value, Mapping):
        return {
            key: MASK if isinstance(key, str) and is_sensitive_key(key) else redact_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_json(item) for item in value]
    return value


def redact_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a Comet request form that is safe to log.

    Sensitive fields become ``MASK``; JSON-valued fields are decoded, redacted and re-encoded. A JSON
    field that cannot be decoded is masked whole, since its keys cannot be inspected.
    """
    safe: dict[str, Any] = {}
    for key, value in form.items():
        if is_sensitive_key(key):
            safe[key] = MASK
        elif key in JSON_FORM_FIELDS:
            safe[key] = _redact_json_text(value)
        else:
            safe[key] = value
    return safe


def _redact_json_text(value: Any) -> Any:
    if not isinstance(value, str | bytes):
        return redact_json(value)
    try:
        decoded = json.loads(value)
    except ValueError:
        return MASK
    return json.dumps(redact_json(decoded), separators=(",", ":"), ensure_ascii=False)
