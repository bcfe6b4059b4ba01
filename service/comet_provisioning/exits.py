"""Exit codes of the `comet-provisioning` command, and the error that carries one.

A command that cannot go on raises `CommandError` with one line saying what to fix; `cli.main` prints
it (no traceback) and exits with its code. Each failure an operator meets at start-up has its own
code, so a supervisor or a script can tell them apart; the README's Configuration section lists them.
"""

from __future__ import annotations

import enum

__all__ = ["CommandError", "ExitCode"]


class ExitCode(enum.IntEnum):
    OK = 0
    # Unexpected: a bug; the traceback is in the log.
    FAILURE = 1
    # The configuration is invalid or unsafe (a setting, a TLS file, the secret key, --demo's rules).
    CONFIG = 2
    # The gRPC listen address is in use or cannot be bound.
    LISTEN_UNAVAILABLE = 3
    # The metrics listen address is in use or cannot be bound.
    METRICS_LISTEN_UNAVAILABLE = 4
    # The database cannot be reached (or refuses the connection: credentials, database name).
    DATABASE_UNAVAILABLE = 5
    # The database schema is not the one this version needs (run `migrate`, or it is newer).
    SCHEMA_MISMATCH = 6
    # `reseal`: some stored secrets open with none of the configured keys.
    SECRETS_UNREADABLE = 7


class CommandError(Exception):
    """Ends a command with `message` on one line and `exit_code` (an ExitCode, or a client
    command's own code such as loadtest's)."""

    def __init__(self, message: str, exit_code: int = ExitCode.FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
