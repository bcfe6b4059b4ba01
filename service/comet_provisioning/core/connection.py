"""Connection details of a Comet server: parsing what operators type, building the client config.

As in the original module, the host field may carry the port (`comet.example.com:8060`) and even
the scheme (`https://comet.example.com`); an explicit protocol or port must then agree with it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .errors import Violations

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "ParsedHost",
    "base_url",
    "default_port",
    "parse_host",
    "write_ca_bundle",
]

DEFAULT_MAX_CONNECTIONS = 10
MAX_CONNECTIONS_LIMIT = 256
HOST_MAX = 253
CA_BUNDLE_MAX = 1024 * 1024
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True)
class ParsedHost:
    host: str  # lower-case name or address, IPv6 without brackets
    port: int | None
    scheme: str | None  # "http" | "https" when the text carried one


def parse_host(raw: str) -> ParsedHost:
    """`host`, `host:port`, `[v6]:port` or `scheme://host[:port][/]`; ValueError says what is wrong."""
    text = raw.strip()
    if not text:
        raise ValueError("required")
    scheme = None
    match = _SCHEME.match(text)
    if match:
        scheme = match.group(1).lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {scheme!r}: use http or https")
        text = text[match.end() :]
    text = text.rstrip("/")
    if any(ch in text for ch in "/?#@ \\") or not text:
        raise ValueError("a host name or address, optionally with :port (no path, query or user info)")
    parts = urlsplit("//" + text)
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("the port must be a number from 1 to 65535") from exc
    if text.endswith(":") or port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    host = parts.hostname or ""
    if text.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ValueError(f"{host!r} is not an IPv6 address") from exc
    elif ":" in host or not host:
        raise ValueError("write an IPv6 address in brackets, e.g. [2001:db8::1]:8060")
    elif len(host) > HOST_MAX or not all(_LABEL.match(label) for label in host.rstrip(".").split(".")):
        raise ValueError(f"{host!r} is not a valid host name")
    return ParsedHost(host=host, port=port, scheme=scheme)


def default_port(protocol: str) -> int:
    return 8060 if protocol == "http" else 443


def base_url(protocol: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{protocol}://{shown}:{port or default_port(protocol)}"


def check_ca_bundle(pem: str, violations: Violations, field: str) -> None:
    if not pem:
        return
    if len(pem) > CA_BUNDLE_MAX:
        violations.add(field, f"at most {CA_BUNDLE_MAX} bytes")
        return
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError, TypeError):  # TypeError: a str that is not ASCII
        violations.add(field, "not a PEM-encoded CA certificate bundle")


def write_ca_bundle(directory: Path, pem: str) -> str:
    """The path of a file holding `pem` (content-addressed, written once), for the TLS context."""
    digest = hashlib.sha256(pem.encode()).hexdigest()
    path = directory / f"{digest}.pem"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
        os.replace(tmp, path)
    return str(path)
