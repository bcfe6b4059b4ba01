"""How `loadtest` ends: exit codes a script can tell apart, and the one-line error that goes with them."""

from __future__ import annotations

from comet_provisioning.exits import CommandError

OK = 0
FAILED = 1  # the run ran: an order failed, a duplicate or orphan, a failed verification or clean-up
USAGE = 2  # bad arguments
UNREACHABLE = 3  # nothing answers at --target (not running, wrong port, TLS mismatch)
UNAUTHORIZED = 4  # the service needs a token, or refused the one given
UNKNOWN_PRODUCT = 5  # --product names no product of the service

EPILOG = (
    "exit codes: 0 all orders succeeded (and verified), 1 failures found, 2 usage error, "
    "3 nothing answers at --target, 4 no token or a refused one, 5 unknown --product"
)


class LoadTestError(CommandError):
    """A run that cannot start or go on: one line for the operator, and its exit code."""
