"""The rules of a server's and a server group's fields that need nothing stored: every problem
goes to the caller's Violations, so a request is checked whole."""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import NAME_MAX, enum_value, text_field
from .connection import DEFAULT_MAX_CONNECTIONS, MAX_CONNECTIONS_LIMIT, check_ca_bundle, parse_host
from .errors import Violations
from .models import ConnectionSpec, ServerGroupSpec, ServerSpec

__all__ = ["PLACEMENT_RULES", "CheckedConnection", "check_connection", "check_group", "check_server"]

USERNAME_MAX = 255
PASSWORD_MAX = 1024
PLACEMENT_RULES = ("LEAST_ACCOUNTS", "FILL_IN_ORDER")


@dataclass
class CheckedConnection:
    """Connection details after their rules: protocol resolved, port split from the host."""

    protocol: str
    host: str
    port: int
    admin_username: str
    admin_password: str | None  # None: keep the stored one
    tls_insecure_skip_verify: bool
    tls_ca_bundle_pem: str


def check_connection(
    spec: ConnectionSpec, violations: Violations, field: str, *, password_required: bool
) -> CheckedConnection:
    protocol = enum_value(violations, f"{field}.protocol", spec.protocol, ("HTTP", "HTTPS"), "").lower()
    host, port = "", spec.port
    try:
        parsed = parse_host(spec.host)
    except ValueError as exc:
        violations.add(f"{field}.host", str(exc))
    else:
        host = parsed.host
        if parsed.scheme and protocol and parsed.scheme != protocol:
            violations.add(
                f"{field}.host", f"says {parsed.scheme} but {field}.protocol is {protocol.upper()}"
            )
        protocol = protocol or parsed.scheme or ""
        if parsed.port is not None:
            if spec.port and spec.port != parsed.port:
                violations.add(
                    f"{field}.port", f"{spec.port} contradicts the port {parsed.port} in {field}.host"
                )
            port = parsed.port
    if not 0 <= spec.port <= 65535:
        violations.add(f"{field}.port", "must be from 1 to 65535 (0 for the protocol's default)")
    username = text_field(
        violations, f"{field}.admin_username", spec.admin_username, USERNAME_MAX, required=True
    )
    password = spec.admin_password
    if password is not None:
        if not password and password_required:
            violations.add(f"{field}.admin_password", "required")
        elif len(password) > PASSWORD_MAX:
            violations.add(f"{field}.admin_password", f"at most {PASSWORD_MAX} characters")
    check_ca_bundle(spec.tls.ca_bundle_pem, violations, f"{field}.tls.ca_bundle_pem")
    return CheckedConnection(
        protocol=protocol or "https",
        host=host,
        port=port,
        admin_username=username,
        admin_password=password,
        tls_insecure_skip_verify=spec.tls.insecure_skip_verify,
        tls_ca_bundle_pem=spec.tls.ca_bundle_pem,
    )


def check_server(spec: ServerSpec, violations: Violations, field: str) -> tuple[str, CheckedConnection]:
    """The display name and the connection (whether the group exists is the caller's to ask)."""
    name = text_field(violations, f"{field}.display_name", spec.display_name, NAME_MAX, required=True)
    if spec.connection is None:
        violations.add(f"{field}.connection", "required")
        connection = check_connection(ConnectionSpec(), Violations(), "", password_required=False)
    else:
        connection = check_connection(
            spec.connection, violations, f"{field}.connection", password_required=True
        )
    if spec.max_accounts < 0:
        violations.add(f"{field}.max_accounts", "must not be negative (0 for no limit)")
    if not 0 <= spec.max_connections <= MAX_CONNECTIONS_LIMIT:
        violations.add(
            f"{field}.max_connections",
            f"must be from 1 to {MAX_CONNECTIONS_LIMIT} (0 for the default, {DEFAULT_MAX_CONNECTIONS})",
        )
    return name, connection


def check_group(spec: ServerGroupSpec, violations: Violations) -> tuple[str, str]:
    """The name and the placement rule."""
    name = text_field(violations, "server_group.name", spec.name, NAME_MAX, required=True)
    rule = enum_value(
        violations, "server_group.placement_rule", spec.placement_rule, PLACEMENT_RULES, "LEAST_ACCOUNTS"
    )
    return name, rule
