"""Loaded by a service process started by ablate.py (on PYTHONPATH): turns off the
micro-optimisations named in ABLATE, so their worth can be measured against the same code with
them on. Never on the path of a real service."""

from __future__ import annotations

import os

_OFF = {name for name in os.environ.get("ABLATE", "").split(",") if name}


class _Never:
    """A class no connection is an instance of: the code takes its general (non-SQLite) path."""


if "prepared" in _OFF:
    # Every prepared statement through SQLAlchemy Core's execute, as on PostgreSQL.
    from comet_provisioning.store import prepared

    prepared.InlineConnection = _Never  # type: ignore[misc,assignment]
