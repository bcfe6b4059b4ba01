"""How the gRPC listener is exposed: TLS or plaintext, authentication on or off, and the refusals.

The rules, checked before the server starts so a mistake stops it with a message naming the setting:

- TLS when `tls_cert_file` and `tls_key_file` are set; with `tls_client_ca_file` too, every client
  must present a certificate signed by that CA (mTLS).
- Plaintext on a non-loopback address only with `allow_plaintext = true`.
- No tokens and no client CA means no authentication: only on a loopback address.
- `--demo` (plaintext, unauthenticated, a simulated Comet) only on a loopback address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc

from comet_provisioning.config import ConfigError, Settings

__all__ = ["Exposure", "is_loopback", "plan_exposure"]


@dataclass(frozen=True)
class Exposure:
    credentials: grpc.ServerCredentials | None  # None: plaintext
    auth_enabled: bool
    mtls: bool
    warnings: tuple[str, ...] = ()

    @property
    def plaintext(self) -> bool:
        return self.credentials is None


def listen_host(listen: str) -> str:
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    return host.strip("[]")


def is_loopback(listen: str) -> bool:
    host = listen_host(listen)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read(setting: str, path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"setting {setting!r}: cannot read {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise ConfigError(f"setting {setting!r}: {path} is empty")
    return data


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    cert, key, ca = settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    if bool(cert) != bool(key):
        raise ConfigError("settings 'tls_cert_file' and 'tls_key_file' must be set together")
    if ca and not cert:
        raise ConfigError("setting 'tls_client_ca_file' needs 'tls_cert_file' and 'tls_key_file' (TLS)")
    if not cert:
        return None
    pair = (_read("tls_key_file", key), _read("tls_cert_file", cert))
    try:
        return grpc.ssl_server_credentials(
            [pair],
            root_certificates=_read("tls_client_ca_file", ca) if ca else None,
            require_client_auth=bool(ca),
        )
    except Exception as exc:  # grpc validates lazily, but be explicit if it complains here
        raise ConfigError(f"TLS files cannot be used: {exc}") from None


def plan_exposure(settings: Settings, *, demo: bool = False) -> Exposure:
    """Credentials and authentication for the listener, or ConfigError when the setup is unsafe."""
    loopback = is_loopback(settings.listen)
    if demo and not loopback:
        raise ConfigError(
            f"--demo listens on loopback addresses only (it is plaintext and unauthenticated), not "
            f"{settings.listen}: use --listen 127.0.0.1:PORT"
        )
    credentials = server_credentials(settings)
    auth_enabled = bool(settings.tokens or settings.tls_client_ca_file)
    if settings.client_certs and not settings.tls_client_ca_file:
        raise ConfigError("setting 'client_certs' needs 'tls_client_ca_file' (client certificates are mTLS)")
    warnings: list[str] = []
    problems: list[str] = []
    if credentials is None and not loopback:
        if not settings.allow_plaintext:
            problems.append(
                f"refusing to serve plaintext gRPC on non-loopback address {settings.listen}: set "
                "'tls_cert_file' and 'tls_key_file', or 'allow_plaintext = true' "
                "(COMET_PROVISIONING_ALLOW_PLAINTEXT) behind a TLS-terminating proxy"
            )
        warnings.append(f"gRPC on {settings.listen} is PLAINTEXT: traffic, tokens included, is readable")
    if not auth_enabled and not loopback:
        problems.append(
            f"refusing to serve without authentication on non-loopback address {settings.listen}: "
            "configure 'tokens' (COMET_PROVISIONING_TOKENS) or 'tls_client_ca_file' with "
            "'client_certs', or listen on a loopback address"
        )
    if problems:
        raise ConfigError("; ".join(problems))
    return Exposure(
        credentials=credentials,
        auth_enabled=auth_enabled,
        mtls=bool(settings.tls_client_ca_file),
        warnings=tuple(warnings),
    )
