"""The reliability suites outside pytest, at a size that gives figures for the README.

    .venv/bin/python tests/reliability/run_suites.py [--quick] [--json] [--only SUITE,...]
                                                     [--profile NAME,...|all]

Suites: bad input (every RPC fuzzed), faults during a load run, crash (SIGKILL mid-run and
restart), replicas (two processes on one PostgreSQL), load (a verified `comet-provisioning loadtest`
of 1,000 orders with colliding names, re-sends and foreign users, everything as processes). Each
suite but bad input (which never reaches Comet) runs once per simulator behaviour profile
(comet-api.md §6: reference, legacy, translated, hostile; `--profile` picks some). Each prints:
calls made, faults injected, failures seen by callers (by code and reason), accounts verified,
anything lost (must be 0); at the end a matrix of suites by profiles. Everything runs on loopback,
bounded in count and time; the exit status is 1 if anything was lost or a suite failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from comet_provisioning.sim import BEHAVIOUR_PROFILES  # noqa: E402

from tests.reliability.faults import FaultLoad  # noqa: E402
from tests.reliability.fuzz import Fuzzer  # noqa: E402
from tests.reliability.processes import crash_scenario, replica_scenario  # noqa: E402
from tests.reliability.profile_load import LoadSize, figures, profile_load  # noqa: E402
from tests.reliability.support import seeded_world  # noqa: E402

SIZES = {
    # suite: (full, quick)
    "bad-input": ({"examples": 150}, {"examples": 25}),
    "faults": (
        {"phase_s": 3.0, "create_workers": 10, "change_workers": 10, "pool_size": 60},
        {"phase_s": 1.5, "create_workers": 6, "change_workers": 6, "pool_size": 24},
    ),
    "crash": ({"creates": 300, "concurrency": 60}, {"creates": 80, "concurrency": 40}),
    "replicas": (
        {"creates": 200, "changed": 100, "rounds": 3, "concurrency": 40},
        {"creates": 40, "changed": 20, "rounds": 1, "concurrency": 20},
    ),
    "load": ({"accounts": 1000, "concurrency": 50}, {"accounts": 200, "concurrency": 50}),
}
TIME_LIMIT_S = {"bad-input": 600, "faults": 300, "crash": 300, "replicas": 420, "load": 600}
# Bad input is rejected before anything reaches Comet: one run says it all.
PROFILE_FREE = {"bad-input"}


async def bad_input(work: Path, profile: str, examples: int) -> dict[str, Any]:
    async with seeded_world(work / "fuzz", behaviour=profile) as world:
        assert world.db_path is not None
        fuzzer = Fuzzer(world.address, world.db_path, world.known, hidden_product_id=world.hidden_product_id)
        try:
            stats = await asyncio.to_thread(fuzzer.fuzz_all, examples)
        finally:
            fuzzer.close()
    failures = {code: n for code, n in stats.codes.most_common() if code != "OK"}
    return {
        "methods": len(stats.per_method),
        "examples_per_method": examples,
        "calls": stats.calls,
        "faults_injected": {f"{kind} requests": n for kind, n in stats.kinds.most_common()},
        "failures_seen_by_callers": failures,
        "ok": stats.codes.get("OK", 0),
        "health_checks_serving": stats.health_checks,
        "rejected_calls_verified_no_write": stats.rejected_checked,
        "lost": len(stats.problems),
        "lost_detail": stats.problems[:10],
    }


async def faults(work: Path, profile: str, **size: Any) -> dict[str, Any]:
    async with seeded_world(work / "faults", with_accounts=False, behaviour=profile) as world:
        report = await FaultLoad(world, **size).run()
    result = report.as_json()
    result["lost"] += len(report.unclear)  # an unclear error counts against the suite too
    return result


async def crash(work: Path, profile: str, **size: Any) -> dict[str, Any]:
    return (await crash_scenario(work, behaviour=profile, **size)).as_json()


async def replicas(work: Path, profile: str, **size: Any) -> dict[str, Any]:
    try:
        return (await replica_scenario(work, behaviour=profile, **size)).as_json()
    except BaseException as exc:  # pytest.skip outside pytest: PostgreSQL unreachable
        if type(exc).__name__ == "Skipped":
            return {"skipped": str(exc)}
        raise


async def load(work: Path, profile: str, **size: Any) -> dict[str, Any]:
    return figures(await profile_load(work, profile, LoadSize(**size)))


SUITES: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "bad-input": bad_input,
    "faults": faults,
    "crash": crash,
    "replicas": replicas,
    "load": load,
}


def table(name: str, figures: dict[str, Any]) -> str:
    lines = [f"### {name}", "", "| figure | value |", "|---|---|"]
    for key, value in figures.items():
        if key in ("lost_detail", "problems") and not value:
            continue
        if isinstance(value, dict):
            shown = ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        elif isinstance(value, list):
            shown = "; ".join(str(v) for v in value) or "none"
        else:
            shown = str(value)
        lines.append(f"| {key.replace('_', ' ')} | {shown} |")
    return "\n".join(lines)


def cell(figures: dict[str, Any]) -> str:
    """One cell of the matrix: calls, what callers saw fail, and what was lost."""
    if "error" in figures:
        return f"error: {figures['error']}"
    if "skipped" in figures:
        return "skipped"
    failed = sum((figures.get("failures_seen_by_callers") or {}).values())
    return f"{figures.get('calls', '?')} calls, {failed} failed, lost {figures.get('lost')}"


def matrix(results: dict[str, dict[str, dict[str, Any]]], profiles: tuple[str, ...]) -> str:
    lines = ["| suite | " + " | ".join(profiles) + " |", "|---" * (len(profiles) + 1) + "|"]
    for suite, by_profile in results.items():
        cells = [cell(by_profile[p]) if p in by_profile else "—" for p in profiles]
        lines.append(f"| {suite} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _names(text: str, known: tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> tuple[str, ...]:
    if text == "all":
        return known
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = set(chosen) - set(known)
    if unknown:
        parser.error(f"unknown {what}: {', '.join(sorted(unknown))}; expected some of {', '.join(known)}")
    return chosen


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    parser.add_argument("--only", default="all", help="comma-separated suites to run (default all)")
    parser.add_argument("--profile", default="all", help="comma-separated behaviour profiles (default all)")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # the service's own log lines are not the figures
    chosen = _names(args.only, tuple(SUITES), "suites", parser)
    profiles = _names(args.profile, BEHAVIOUR_PROFILES, "profiles", parser)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        for name in chosen:
            size = SIZES[name][1 if args.quick else 0]
            for profile in ("reference",) if name in PROFILE_FREE else profiles:
                started = time.monotonic()
                work = Path(tmp) / name / profile
                try:
                    suite = SUITES[name](work, profile, **size)
                    result = await asyncio.wait_for(suite, TIME_LIMIT_S[name])
                except Exception as exc:  # a suite that could not finish is a failure, with its reason
                    traceback.print_exc()
                    result = {"error": f"{type(exc).__name__}: {exc}", "lost": "unknown"}
                result["seconds"] = round(time.monotonic() - started, 1)
                failed = failed or result.get("lost", 0) not in (0, None)
                results.setdefault(name, {})[profile] = result
                if not args.json:
                    print(table(f"{name} ({profile})", result), end="\n\n", flush=True)
    if args.json:
        print(json.dumps({"quick": args.quick, "suites": results}, indent=2))
    else:
        print("### suites by profiles\n\n" + matrix(results, profiles), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
