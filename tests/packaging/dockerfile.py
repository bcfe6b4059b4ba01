"""Reads this project's Dockerfile into its stages, so a test can replay the image's recipe on a
machine without a Docker engine: the same COPY, RUN, ENV, HEALTHCHECK, ENTRYPOINT and CMD lines,
and the USER and VOLUME a test checks."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    base: str
    copies: list[tuple[str, str]] = field(default_factory=list)  # (source in the tree, destination)
    runs: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    healthcheck: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    user: str = ""
    volumes: list[str] = field(default_factory=list)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    out = []
    for line in joined:
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _exec_form(args: str) -> list[str]:
    return list(json.loads(args)) if args.startswith("[") else ["/bin/sh", "-c", args]


def stages(dockerfile: Path) -> list[Stage]:
    found: list[Stage] = []
    for keyword, args in _instructions(dockerfile.read_text()):
        if keyword == "FROM":
            found.append(Stage(base=args.split()[0]))
            continue
        stage = found[-1]
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, destination = shlex.split(args)
            stage.copies += [(source, destination) for source in sources]
        elif keyword == "RUN":
            stage.runs.append(args)
        elif keyword == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                stage.env[key] = value
        elif keyword == "HEALTHCHECK":
            _, _, command = args.partition("CMD ")
            stage.healthcheck = _exec_form(command.strip())
        elif keyword == "ENTRYPOINT":
            stage.entrypoint = _exec_form(args)
        elif keyword == "CMD":
            stage.cmd = _exec_form(args)
        elif keyword == "USER":
            stage.user = args
        elif keyword == "VOLUME":
            stage.volumes += list(json.loads(args)) if args.startswith("[") else args.split()
    return found
