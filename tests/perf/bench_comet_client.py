"""Benchmark: Comet calls per second and client CPU per call, against the simulator in another process.

Not a test (pytest collects ``test_*.py`` only): a script that prints numbers. It starts
``python -m comet_provisioning.sim`` on a free loopback port, waits until it answers, seeds users
through the simulator's control API, then for each workload and concurrency runs the real
``CometClient`` for a bounded time and a bounded number of operations:

- ``read``: ``get-user-profile`` of one seeded user (1 Comet call per operation);
- ``write``: ``update_user_profile`` — ``get-user-profile-and-hash`` then ``set-user-profile-hash``
  (2 Comet calls per operation; one user per worker, so no hash conflicts).

Calls are counted server-side (the simulator's counters), CPU is ``time.process_time()`` of this
process only (the client), so ``client CPU µs/call`` excludes the simulator, which runs elsewhere.

    .venv/bin/python tests/perf/bench_comet_client.py            # full run (~45 s)
    .venv/bin/python tests/perf/bench_comet_client.py --quick    # a few seconds
    .venv/bin/python tests/perf/bench_comet_client.py --json     # ... and a JSON object last
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
from comet_provisioning.comet import CometClient, CometError, CometServerConfig

ADMIN_USER = "bench-admin"
ADMIN_PASSWORD = "bench-admin-password-1"  # a throwaway simulator on loopback
READ_USER = "benchreader"
STARTUP_TIMEOUT_S = 20.0

Op = Callable[[int], Awaitable[Any]]


@dataclass
class Result:
    workload: str
    concurrency: int
    operations: int
    comet_calls: int
    wall_s: float
    calls_per_s: float
    client_cpu_us_per_call: float
    server_cpu_us_per_call: float | None
    op_p50_ms: float
    op_p99_ms: float
    errors: int
    hash_conflicts: int


# --- the simulator process ---------------------------------------------------------------------


class SimProcess:
    """``python -m comet_provisioning.sim`` on 127.0.0.1, a free port, in its own process."""

    def __init__(self, latency_ms: float) -> None:
        self.latency_ms = latency_ms
        self.proc: asyncio.subprocess.Process | None = None
        self.base_url = ""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()

    async def start(self) -> str:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "comet_provisioning.sim",
            "--listen",
            "127.0.0.1:0",
            "--admin-user",
            ADMIN_USER,
            "--admin-password",
            ADMIN_PASSWORD,
            "--latency-ms",
            str(self.latency_ms),
            "--seed",
            "1",
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
        )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), STARTUP_TIMEOUT_S)
        except TimeoutError:
            raise RuntimeError(f"simulator did not start: {self._errors()}") from None
        text = line.decode().strip()
        if "listening on " not in text:
            raise RuntimeError(f"simulator did not start ({text!r}): {self._errors()}")
        self.base_url = text.rsplit("listening on ", 1)[1]
        if not self.base_url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"refusing a non-loopback simulator address {self.base_url!r}")
        return self.base_url

    async def wait_until_answering(self, client: CometClient) -> str:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                return (await client.meta_version(timeout_s=2)).version
            except CometError:
                if time.monotonic() > deadline or (self.proc and self.proc.returncode is not None):
                    raise
                await asyncio.sleep(0.05)

    def cpu_seconds(self) -> float | None:
        """utime + stime of the simulator process (Linux /proc), None elsewhere."""
        if self.proc is None:
            return None
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _errors(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._stderr.close()


class Control:
    """The simulator's control API (not counted, never faulted)."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base = f"{base_url}/__sim__"

    async def post(self, path: str, body: Any = None) -> Any:
        async with self.session.post(f"{self.base}/{path}", json=body) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def counters(self) -> dict[str, Any]:
        async with self.session.get(f"{self.base}/counters") as resp:
            resp.raise_for_status()
            result: dict[str, Any] = await resp.json()
            return result


# --- measuring ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_cell(
    workload: str,
    op: Op,
    concurrency: int,
    *,
    duration_s: float,
    max_ops: int,
    control: Control,
    sim: SimProcess,
) -> Result:
    # Warm up: open the pool's connections and fill caches outside the measured window.
    await asyncio.gather(*(op(i) for i in range(concurrency) for _ in range(3)))
    await control.post("counters/reset")

    latencies: list[float] = []
    errors = 0
    started = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + duration_s

    async def worker(index: int) -> None:
        nonlocal errors, started
        while started < max_ops and loop.time() < end:
            started += 1
            t0 = time.perf_counter()
            try:
                await op(index)
            except CometError:
                errors += 1
            latencies.append(time.perf_counter() - t0)

    server_cpu0 = sim.cpu_seconds()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    server_cpu1 = sim.cpu_seconds()

    counters = await control.counters()
    calls = sum(counters["calls"].values())
    set_calls = counters["calls"].get("set-user-profile-hash", 0)
    set_commits = counters["committed"].get("set-user-profile-hash", 0)
    server_us = None
    if server_cpu0 is not None and server_cpu1 is not None and calls:
        server_us = (server_cpu1 - server_cpu0) / calls * 1e6
    return Result(
        workload=workload,
        concurrency=concurrency,
        operations=len(latencies),
        comet_calls=calls,
        wall_s=round(wall, 3),
        calls_per_s=round(calls / wall, 1) if wall else 0.0,
        client_cpu_us_per_call=round(cpu / calls * 1e6, 1) if calls else 0.0,
        server_cpu_us_per_call=round(server_us, 1) if server_us is not None else None,
        op_p50_ms=round(statistics.median(latencies) * 1e3, 3) if latencies else 0.0,
        op_p99_ms=round(percentile(latencies, 0.99) * 1e3, 3),
        errors=errors,
        hash_conflicts=set_calls - set_commits,
    )


def machine() -> dict[str, Any]:
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def print_table(results: list[Result]) -> None:
    header = (
        f"{'workload':<8} {'conc':>4} {'ops':>7} {'calls':>7} {'wall s':>7} {'calls/s':>9}"
        f" {'client CPU µs/call':>19} {'sim CPU µs/call':>16} {'op p50 ms':>10} {'op p99 ms':>10}"
        f" {'errors':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        server = f"{r.server_cpu_us_per_call:.0f}" if r.server_cpu_us_per_call is not None else "n/a"
        print(
            f"{r.workload:<8} {r.concurrency:>4} {r.operations:>7} {r.comet_calls:>7} {r.wall_s:>7.2f}"
            f" {r.calls_per_s:>9.0f} {r.client_cpu_us_per_call:>19.0f} {server:>16}"
            f" {r.op_p50_ms:>10.2f} {r.op_p99_ms:>10.2f} {r.errors:>6}"
        )


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    duration_s = args.duration if args.duration is not None else (1.0 if args.quick else 5.0)
    max_ops = args.max_ops if args.max_ops is not None else (3_000 if args.quick else 100_000)
    sim = SimProcess(args.latency_ms)
    results: list[Result] = []
    load_before = machine()["load_average_1m"]
    try:
        base_url = await sim.start()
        config = CometServerConfig(
            server_id="bench",
            base_url=base_url,
            username=ADMIN_USER,
            password=ADMIN_PASSWORD,
            max_connections=args.max_connections,
            request_timeout_s=30,
        )
        async with CometClient(config) as client, aiohttp.ClientSession() as session:
            version = await sim.wait_until_answering(client)
            control = Control(session, base_url)
            writers = [f"benchwriter{i:04d}" for i in range(max(concurrencies))]
            await control.post(
                "seed",
                {"users": [{"username": name} for name in [READ_USER, *writers]]},
            )
            values = [0] * len(writers)

            async def read(_index: int) -> Any:
                return await client.get_user_profile(READ_USER)

            async def write(index: int) -> Any:
                values[index] += 1
                value = values[index]
                return await client.update_user_profile(
                    writers[index], lambda p: p.update(MaximumDevices=value)
                )

            for workload, op in (("read", read), ("write", write)):
                for concurrency in concurrencies:
                    result = await run_cell(
                        workload,
                        op,
                        concurrency,
                        duration_s=duration_s,
                        max_ops=max_ops,
                        control=control,
                        sim=sim,
                    )
                    results.append(result)
                    if not args.json:
                        print(
                            f"  {workload} x{concurrency}: {result.calls_per_s:.0f} calls/s,"
                            f" {result.client_cpu_us_per_call:.0f} µs CPU/call",
                            file=sys.stderr,
                        )
    finally:
        await sim.stop()
    return {
        "machine": {**machine(), "load_average_1m_before": load_before},
        "config": {
            "comet_version": version,
            "mode": "quick" if args.quick else "full",
            "duration_s_per_cell": duration_s,
            "max_ops_per_cell": max_ops,
            "max_connections": args.max_connections,
            "sim_latency_ms": args.latency_ms,
            "simulator": "separate process, 127.0.0.1",
        },
        "results": [asdict(r) for r in results],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run (1 s per cell)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated (default 1,16,64)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per cell (5, quick 1)")
    parser.add_argument("--max-ops", type=int, default=None, help="operations per cell at most")
    parser.add_argument("--max-connections", type=int, default=64, help="client pool size (default 64)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="simulated server latency")
    args = parser.parse_args(argv)
    if args.duration is not None and not 0 < args.duration <= 60:
        parser.error("--duration must be in (0, 60]")
    if args.max_ops is not None and not 0 < args.max_ops <= 1_000_000:
        parser.error("--max-ops must be in (0, 1000000]")

    report = asyncio.run(bench(args))
    m = report["machine"]
    print(
        f"machine: {m['nproc']} CPUs, {m['cpu_model']}; Python {m['python']}, aiohttp {m['aiohttp']};"
        f" load average {m['load_average_1m_before']} before, {m['load_average_1m']} after"
    )
    c = report["config"]
    print(
        f"simulator: Comet {c['comet_version']} in another process on loopback;"
        f" client pool {c['max_connections']}; {c['duration_s_per_cell']} s or"
        f" {c['max_ops_per_cell']} ops per cell"
    )
    print_table([Result(**r) for r in report["results"]])
    if args.json:
        print(json.dumps(report, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
