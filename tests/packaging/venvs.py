"""Fresh virtual environments for the packaging tests, and a copy of a tree without its leftovers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def dockerignore_names() -> list[str]:
    """The `**/NAME` rules of .dockerignore: names left out at any depth."""
    rules = (REPO / ".dockerignore").read_text().splitlines()
    return [rule[3:] for rule in rules if rule.startswith("**/")]


def copy_tree(source: Path, destination: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*dockerignore_names()))
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def new_venv(path: Path) -> Path:
    """A virtual environment with nothing but pip in it; its bin directory."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin"


def installed(bin_dir: Path) -> set[str]:
    """Distribution names installed in the environment, normalized (lower case, dashes)."""
    out = subprocess.run(
        [str(bin_dir / "pip"), "list", "--format", "json", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {entry["name"].lower().replace("_", "-") for entry in json.loads(out)}
