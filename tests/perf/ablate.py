"""What a micro-optimisation is worth: the service with it turned off against the same service with
it on, both loaded at once in short rounds on one simulator (current version, no added latency), so
each round compares them at the same host speed. Not a test.

    python tests/perf/ablate.py VARIANT[,VARIANT...] [--rounds N] [--json]

prepared    store/prepared.py's direct sqlite3 path (off: SQLAlchemy Core's execute, as on PostgreSQL)

What a feature costs, the same way (off: the feature is gone; never a configuration):
journal     the account's event log (off: no step recorded, no event row written)
metrics     the Prometheus metrics (off: no sample taken)
access-log  the "rpc finished" line of every call (off: not written)

Prints the CPU per create (3 s of creates at concurrency 8 each) and per basic GetAccount (one side
after the other) of each, and the median over rounds of "off ÷ on": 1.05 means the optimisation
saves 5 % of the operation's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from bench import CURRENT, Proc, Sim, calls_per_s, creates, service, simultaneous_cpu_per_create

VARIANTS = ("prepared", "journal", "metrics", "access-log")


async def get_cpu_ms(proc: Proc, target: str, account_id: str) -> float:
    cpu0 = proc.cpu_s()
    rate = await calls_per_s(target, "get", account_id, 2.0)
    return (proc.cpu_s() - cpu0) / (rate * 2.0) * 1000


async def ablate(variant: str, rounds: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="cp-ablate-"))
    # Both sides load the same sitecustomize, so they start the same way; only ABLATE differs.
    ablations = os.pathsep.join(
        filter(None, [str(Path(__file__).with_name("ablations")), os.environ.get("PYTHONPATH")])
    )
    figures: dict[str, dict[str, list[float]]] = {
        side: {"create_cpu_ms": [], "get_cpu_ms": []} for side in ("on", "off")
    }
    async with aiohttp.ClientSession() as session, contextlib.AsyncExitStack() as stack:
        sim = Sim(workdir, CURRENT)
        await sim.start(session)
        stack.callback(sim.proc.stop)
        sides = {}
        for side, off in (("on", ""), ("off", variant)):
            env = {"PYTHONPATH": ablations, "ABLATE": off}
            proc, client, products = await stack.enter_async_context(service(workdir, sim, env=env))
            sample = (await creates(client, products[CURRENT], 30, 8)).ids[0]
            sides[side] = (proc, client, products[CURRENT], sample)
        for i in range(rounds):
            both = await simultaneous_cpu_per_create([sides[side][:3] for side in ("on", "off")], 3.0)
            for side, cpu in zip(("on", "off"), both, strict=True):
                figures[side]["create_cpu_ms"].append(cpu * 1000)
            for side in ("on", "off") if i % 2 == 0 else ("off", "on"):
                proc, client, _, sample = sides[side]
                figures[side]["get_cpu_ms"].append(await get_cpu_ms(proc, client.target, sample))
    out: dict[str, Any] = {"variant": variant, "rounds": rounds}
    for key in ("create_cpu_ms", "get_cpu_ms"):
        on, off = figures["on"][key], figures["off"][key]
        out[key] = {"on": round(statistics.median(on), 3), "off": round(statistics.median(off), 3)}
        out[key.replace("_ms", "_off_over_on")] = round(
            statistics.median(b / a for a, b in zip(on, off, strict=True)), 3
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variant", help=f"one of {', '.join(VARIANTS)}, or several joined by commas")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    unknown = set(args.variant.split(",")) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant {', '.join(sorted(unknown))}; choose from {', '.join(VARIANTS)}")
    out = asyncio.run(ablate(args.variant, args.rounds))
    print(json.dumps(out) if args.json else json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
