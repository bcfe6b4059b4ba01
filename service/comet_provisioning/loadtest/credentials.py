"""Comet admin credentials for --verify: the service never returns them, so the caller brings them."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class CometCredentials:
    url: str
    username: str
    password: str = field(repr=False)


def normalize_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


def load_credentials_file(path: str) -> list[CometCredentials]:
    """TOML (`[[comet]] url/username/password`) or JSON (a list of such objects, or {"comet": [...]})."""
    text = Path(path).read_text()
    data: Any = json.loads(text) if path.endswith(".json") else tomllib.loads(text)
    entries = data.get("comet", []) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of {{url, username, password}}")
    found = []
    for entry in entries:
        if not isinstance(entry, dict) or not {"url", "username", "password"} <= set(entry):
            raise ValueError(f"{path}: each Comet server needs url, username and password")
        found.append(CometCredentials(str(entry["url"]), str(entry["username"]), str(entry["password"])))
    return found
