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

from .context import DEFAULT_INSTALLER_SIZE
from .server import CometSimulator
from .versions import DEFAULT_VERSION

__all__ = ["add_arguments", "main", "parse_listen", "run"]


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
        "--version", dest="comet_version", default=DEFAULT_VERSION, help="Comet version to present"
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


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; returns the process exit code."""
    host, port = args.listen
    sim = CometSimulator(
        admin_user=args.admin_user,
        admin_password=args.admin_password,
        version=args.comet_version,
        latency_ms=args.latency_ms,
        jitter_ms=getattr(args, "jitter_ms", 0.0),
        installer_size=args.installer_size,
        seed=args.seed,
        state_file=args.state_file,
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
    print(f"Comet Server simulator {sim.state.version.text} listening on {url}", flush=True)
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
