"""Connection settings for one Comet Server."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["CometServerConfig"]

# Fingerprints are keyed with a per-process secret so that a logged fingerprint cannot be used to
# brute-force the admin password it covers. They are comparable within one process only.
_FINGERPRINT_KEY = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class CometServerConfig:
    """How to reach and authenticate against one Comet Server (``password`` never appears in repr)."""

    server_id: str
    base_url: str
    username: str
    password: str = field(repr=False)
    max_connections: int = 10
    verify_tls: bool = True
    ca_file: str | None = None
    connect_timeout_s: float = 5
    request_timeout_s: float = 30
    download_timeout_s: float = 600
    keepalive_timeout_s: float = 30
    max_retries: int = 3
    retry_backoff_base_s: float = 0.2
    retry_backoff_max_s: float = 5.0
    server_info_ttl_s: float = 3600.0
    """How long a learned version and clock offset are trusted before ``meta/version`` is asked again."""
    credentials_proof_s: float = 5.0
    """A successful call this recent proves the admin credentials, so a 403 needs no login probe."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port], got {self.base_url!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError("base_url must not embed credentials")
        if parts.query or parts.fragment:
            raise ValueError("base_url must not have a query or fragment")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not self.server_id:
            raise ValueError("server_id must not be empty")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if self.max_retries < 0:
            raise ValueError("max_retries must not be negative")
        for name in ("connect_timeout_s", "request_timeout_s", "download_timeout_s", "keepalive_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.retry_backoff_base_s < 0 or self.retry_backoff_max_s < 0:
            raise ValueError("retry backoff must not be negative")
        if self.server_info_ttl_s <= 0:
            raise ValueError("server_info_ttl_s must be positive")
        if self.credentials_proof_s < 0:
            raise ValueError("credentials_proof_s must not be negative")

    def fingerprint(self) -> str:
        """A digest of every field: equal fingerprints mean an existing client can be kept."""
        payload = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.blake2b(payload, key=_FINGERPRINT_KEY, digest_size=16).hexdigest()

    def admin_url(self, endpoint: str) -> str:
        """The full URL of an admin endpoint such as ``meta/version``."""
        return f"{self.base_url}/api/v1/admin/{endpoint}"
