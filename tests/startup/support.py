"""Running `comet-provisioning` as an operator does, and reading what it said."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.fixtures.service import BIN


def run(
    args: Sequence[str], env: dict[str, str], cwd: Path, *, timeout: float = 60, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "comet-provisioning"), *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def json_lines(stream: str) -> list[dict[str, Any]]:
    """Every line of a JSON log; fails on a line that is not one JSON object."""
    lines = [line for line in stream.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
        assert isinstance(entry, dict), line
        parsed.append(entry)
    return parsed


def fatal_line(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one line a refused start ends with: JSON, critical, carrying the exit code; no traceback."""
    assert "Traceback" not in done.stderr, done.stderr
    entries = json_lines(done.stderr)
    fatal = [entry for entry in entries if entry["level"] == "critical"]
    assert len(fatal) == 1, done.stderr
    assert fatal[0] is entries[-1]
    assert fatal[0]["exit_code"] == done.returncode
    return fatal[0]


@contextlib.contextmanager
def serving(args: Sequence[str], env: dict[str, str], cwd: Path) -> Iterator[Path]:
    """`serve ARGS` until the block ends (SIGTERM, exit 0 checked); yields its log file (stdout and
    stderr). Waits for the "serving" line, so it works whatever the listener's TLS."""
    log_path = cwd / f"serve-{time.monotonic_ns()}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(BIN / "comet-provisioning"), "serve", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
        )
    try:
        deadline = time.monotonic() + 30
        while '"message": "serving"' not in log_path.read_text(errors="replace"):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 0, log_path.read_text()
