"""Loaded by a service process started by ablate.py (on PYTHONPATH): turns off the
micro-optimisations or features named in ABLATE, so their worth (or their cost) can be measured
against the same code with them on. Never on the path of a real service."""

from __future__ import annotations

import os
from typing import Any

_OFF = {name for name in os.environ.get("ABLATE", "").split(",") if name}


class _Never:
    """A class no connection is an instance of: the code takes its general (non-SQLite) path."""


def _nothing(*_: Any, **__: Any) -> None:
    return None


if "prepared" in _OFF:
    # Every prepared statement through SQLAlchemy Core's execute, as on PostgreSQL.
    from comet_provisioning.store import prepared

    prepared.InlineConnection = _Never  # type: ignore[misc,assignment]

if "journal" in _OFF:
    # No step is recorded, so no event row is written (what the account's event log costs).
    from comet_provisioning.core.accounts.journal import Journal

    Journal._add = _nothing  # type: ignore[method-assign]

if "metrics" in _OFF:
    # Prometheus counters, gauges and histograms take no sample (what the metrics cost).
    from prometheus_client import metrics, values

    values.MutexValue.inc = _nothing  # type: ignore[method-assign]
    values.MutexValue.set = _nothing  # type: ignore[method-assign]
    metrics.Histogram.observe = _nothing  # type: ignore[method-assign]

if "access-log" in _OFF:
    # No "rpc finished" line per call (what the access log costs).
    from comet_provisioning.api import interceptors

    interceptors._log_outcome = _nothing  # type: ignore[assignment]
