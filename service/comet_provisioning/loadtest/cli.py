"""`comet-provisioning loadtest`: arguments, and the run with its summary and exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import exits
from .credentials import CometCredentials, load_credentials_file
from .progress import wanted as progress_wanted

if TYPE_CHECKING:
    from .loadtest import LoadTestConfig

PASSWORD_ENV = "COMET_LOADTEST_COMET_PASSWORD"  # noqa: S105 - a variable name
TOKEN_ENV = "COMET_PROVISIONING_TOKEN"  # noqa: S105 - a variable name


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = exits.EPILOG
    parser.add_argument("--target", required=True, help="HOST:PORT of the provisioning service")
    parser.add_argument("--product", required=True, help="product id to order")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--accounts", type=int, default=100, help="orders to place (default 100)")
    size.add_argument("--duration", type=float, help="place orders for this many seconds instead")
    parser.add_argument("--concurrency", type=int, default=10, help="calls in flight (default 10)")
    parser.add_argument("--rate", type=float, help="calls per second (default: as fast as possible)")
    parser.add_argument(
        "--duplicate-fraction", type=_fraction, default=0.0, help="orders re-sent with the same request_id"
    )
    parser.add_argument(
        "--same-username-fraction",
        type=_fraction,
        default=0.0,
        help="orders asking for a username an earlier order asked for",
    )
    parser.add_argument(
        "--retries",
        type=_count,
        default=3,
        help="times a caller re-sends an order (same request_id) that met UNAVAILABLE, ABORTED or "
        "DEADLINE_EXCEEDED, with backoff, as a billing system would (default 3; each is a call)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=0.0,
        metavar="S",
        help="after the orders, wait up to S seconds for accounts the service's background sweep is "
        "still finishing (PENDING, or FAILED with limits pending) before verifying (default 0)",
    )
    parser.add_argument(
        "--late-retry",
        action="store_true",
        help="after the orders (and --settle-timeout), send every order no call acknowledged once "
        "more with its request_id, as a billing system's next attempt",
    )
    parser.add_argument(
        "--foreign-fraction",
        type=_fraction,
        default=0.0,
        help="before the run, seed a Comet user under this share of the usernames the run will order "
        "(simulators, with --simulator-admin); --verify then checks none of them was touched",
    )
    parser.add_argument("--verify", action="store_true", help="check the outcome on the Comet servers")
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="terminate every account the run created once it is over (after --verify); with Comet "
        "credentials, also check that none of the run's Comet users is left",
    )
    parser.add_argument(
        "--comet",
        action="append",
        default=[],
        metavar="URL",
        help="a Comet server's base URL as registered (repeatable; with --comet-user/--comet-password)",
    )
    parser.add_argument("--comet-user", default="", help="Comet admin user for the --comet URLs")
    parser.add_argument(
        "--comet-password", default="", help=f"Comet admin password (better: the {PASSWORD_ENV} variable)"
    )
    parser.add_argument(
        "--comet-config", help="TOML/JSON file: [[comet]] url, username, password (one per server)"
    )
    parser.add_argument(
        "--simulator-admin",
        action="store_true",
        help="the servers are Comet Server simulators (serve --demo): verify through a throwaway admin "
        "added with their /__sim__ control API",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (it is shown only when stderr is a terminal, and never with --json)",
    )
    parser.add_argument("--token", help=f"bearer token (default: the {TOKEN_ENV} variable)")
    parser.add_argument("--tls", action="store_true", help="TLS with the system roots")
    parser.add_argument("--ca-file", help="TLS with these root certificates (PEM)")
    parser.add_argument("--timeout", type=float, default=60.0, help="deadline per call in seconds")
    parser.add_argument("--seed", type=int, help="seed for the plan (options, re-sends, collisions)")


def _credentials(args: argparse.Namespace) -> list[CometCredentials]:
    found = load_credentials_file(args.comet_config) if args.comet_config else []
    password = args.comet_password or os.environ.get(PASSWORD_ENV, "")
    found += [CometCredentials(url, args.comet_user, password) for url in args.comet]
    return found


def config_from_args(args: argparse.Namespace) -> LoadTestConfig:
    from .loadtest import LoadTestConfig

    tls: bool | bytes | None = None
    if args.ca_file:
        tls = Path(args.ca_file).read_bytes()
    elif args.tls:
        tls = True
    return LoadTestConfig(
        target=args.target,
        product_id=args.product,
        accounts=None if args.duration is not None else args.accounts,
        duration_s=args.duration,
        concurrency=args.concurrency,
        rate=args.rate,
        duplicate_fraction=args.duplicate_fraction,
        same_username_fraction=args.same_username_fraction,
        verify=args.verify,
        cleanup=args.cleanup,
        comet=_credentials(args),
        simulator_admin=args.simulator_admin,
        token=args.token or os.environ.get(TOKEN_ENV) or None,
        tls=tls,
        timeout_s=args.timeout,
        seed=args.seed,
        retries=args.retries,
        settle_timeout_s=args.settle_timeout,
        foreign_fraction=args.foreign_fraction,
        late_retry=args.late_retry,
        progress=progress_wanted(json_output=args.json, disabled=args.no_progress),
    )


def _fail(message: str, code: int) -> int:
    print(f"comet-provisioning loadtest: {message}", file=sys.stderr)
    return code


async def run_command(args: argparse.Namespace) -> int:
    """Runs the load. Exit codes: see `exits` (1 on any failure, duplicate or orphan, or a failed
    verification or clean-up; 3, 4, 5 when it cannot run, with one line saying why)."""
    try:
        config = config_from_args(args)
    except (OSError, ValueError) as exc:
        return _fail(str(exc), exits.USAGE)
    if config.verify and not config.comet and not config.simulator_admin:
        return _fail(
            "--verify needs Comet credentials (--comet URL with --comet-user/--comet-password, "
            "--comet-config FILE, or --simulator-admin)",
            exits.USAGE,
        )
    if config.foreign_fraction and (not config.simulator_admin or config.duration_s is not None):
        return _fail(
            "--foreign-fraction seeds users through simulators under names known in advance: "
            "it needs --simulator-admin and --accounts",
            exits.USAGE,
        )
    from .loadtest import run_loadtest

    try:
        summary = await run_loadtest(config)
    except exits.LoadTestError as err:
        return _fail(str(err), err.exit_code)
    print(summary.text(), file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(summary.to_json(), sort_keys=False), flush=True)
    bad = summary.failed or summary.duplicates or (summary.orphans or 0)
    if config.verify and (bad or not summary.verified):
        return exits.FAILED
    if summary.cleanup is not None and not summary.cleanup.clean:
        return exits.FAILED
    return exits.OK
