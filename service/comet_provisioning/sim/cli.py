"""`comet-provisioning simulator ...`: run a simulated Comet Server until SIGINT/SIGTERM.

The main CLI wires `add_arguments` and `run` into its own subcommand; `python -m
comet_provisioning.sim` uses them directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from .behaviour import BEHAVIOUR_PROFILES, Behaviour, resolve_behaviour, switch_specs
from .context import DEFAULT_INSTALLER_SIZE
from .server import CometSimulator
from .versions import DEFAULT_VERSION

__all__ = ["add_arguments", "behaviour_from_args", "main", "parse_listen", "run"]

_DEST_PREFIX = "behaviour_"


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT); PORT 0 picks a free port."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen", type=parse_listen, default=("127.0.0.1", 8060), help="HOST:PORT (default 127.0.0.1:8060)"
    )
    parser.add_argument("--admin-user", default="admin", help="admin username (default admin)")
    parser.add_argument("--admin-password", required=True, help="admin password")
    parser.add_argument(
        "--version",
        dest="comet_version",
        default=None,
        help=f"Comet version to present (default: the behaviour profile's, else {DEFAULT_VERSION})",
    )
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added latency per admin call")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="random extra latency, 0..N ms")
    parser.add_argument(
        "--installer-size", type=int, default=DEFAULT_INSTALLER_SIZE, help="client installer size in bytes"
    )
    parser.add_argument(
        "--state-file", default=None, help="JSON file to load state from and save it to on exit"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for ids and fault decisions")
    _add_behaviour_arguments(parser)


def _add_behaviour_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("behaviour", "how the server answers where the contract leaves it open")
    group.add_argument(
        "--behaviour",
        choices=BEHAVIOUR_PROFILES,
        default=None,
        help="behaviour profile (default reference); the switches below override it",
    )
    for spec in switch_specs():
        if spec.name == "version":
            continue  # --version above
        flag = "--" + spec.name.replace("_", "-")
        dest = _DEST_PREFIX + spec.name
        if spec.kind is bool:
            group.add_argument(
                flag, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=spec.help
            )
        else:
            metavar = None if spec.choices else spec.kind.__name__.upper()
            group.add_argument(
                flag,
                dest=dest,
                type=spec.kind,
                choices=spec.choices,
                default=None,
                metavar=metavar,
                help=f"{spec.help} (default {spec.default!r})",
            )


def behaviour_from_args(args: argparse.Namespace) -> Behaviour:
    """The profile named by --behaviour with the per-switch flags that were given applied."""
    overrides = {
        spec.name: getattr(args, _DEST_PREFIX + spec.name)
        for spec in switch_specs()
        if getattr(args, _DEST_PREFIX + spec.name, None) is not None
    }
    return resolve_behaviour(getattr(args, "behaviour", None), overrides)


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; returns the process exit code."""
    host, port = args.listen
    try:
        behaviour = behaviour_from_args(args)
    except ValueError as exc:
        print(f"comet simulator: {exc}", file=sys.stderr)
        return 2
    sim = CometSimulator(
        admin_user=args.admin_user,
        admin_password=args.admin_password,
        version=args.comet_version,
        latency_ms=args.latency_ms,
        jitter_ms=getattr(args, "jitter_ms", 0.0),
        installer_size=args.installer_size,
        seed=args.seed,
        state_file=args.state_file,
        behaviour=behaviour,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        url = await sim.start(host, port)
    except OSError as exc:
        print(f"comet simulator: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    profile = sim.behaviour.preset_name() or "custom"
    print(f"Comet Server simulator {sim.state.version.text} ({profile}) listening on {url}", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m comet_provisioning.sim", description=__doc__)
    add_arguments(parser)
    return asyncio.run(run(parser.parse_args(argv)))
