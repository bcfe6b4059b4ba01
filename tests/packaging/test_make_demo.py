"""`make demo` on a fresh clone: the Python environment and the service, nothing from npm."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.packaging.venvs import REPO


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_needs_no_npm(tmp_path: Path) -> None:
    # A dry run as on a fresh clone: no environment and no buf yet.
    planned = subprocess.run(
        ["make", "-n", "demo", f"VENV={tmp_path / 'venv'}", f"BUF={tmp_path / 'tools' / 'buf'}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "-m venv" in planned
    assert "serve --demo" in planned
    assert not [line for line in planned.splitlines() if line.split()[0] == "npm"], planned
