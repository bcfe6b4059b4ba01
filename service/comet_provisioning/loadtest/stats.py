"""Latency statistics and the ghz-like text summary."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def histogram(values_ms: Sequence[float], buckets: int = 10, width: int = 40) -> list[str]:
    """ghz-style lines: bucket upper bound, count, a bar."""
    if not values_ms:
        return []
    lo, hi = min(values_ms), max(values_ms)
    step = (hi - lo) / buckets or 1.0
    counts = [0] * buckets
    for value in values_ms:
        counts[min(int((value - lo) / step), buckets - 1)] += 1
    peak = max(counts)
    lines = []
    for i, count in enumerate(counts):
        bar = "∎" * (round(count / peak * width) if peak else 0)
        lines.append(f"  {lo + step * (i + 1):10.3f} [{count:>6}] |{bar}")
    return lines
