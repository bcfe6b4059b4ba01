"""A run's progress on a terminal: a tqdm bar on stderr with the outcomes so far.

Only for a person watching: shown when stderr is a terminal, never with --json (whose output is for
programs) and never into a pipe or a CI log, where a redrawn bar is noise.
"""

from __future__ import annotations

import sys
from typing import NoReturn, TextIO

from tqdm import tqdm

__all__ = ["Progress", "wanted"]


def wanted(*, json_output: bool, disabled: bool = False, stream: TextIO | None = None) -> bool:
    stream = sys.stderr if stream is None else stream
    return not json_output and not disabled and stream.isatty()


class Progress:
    """Counts finished calls of one phase (orders, clean-up); silent when not `enabled`."""

    def __init__(self, enabled: bool, *, description: str, total: int | None, unit: str) -> None:
        self._ok = 0
        self._failed = 0
        self._bar: tqdm[NoReturn] | None = (
            tqdm(total=total, desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True)
            if enabled
            else None
        )

    def advance(self, ok: bool, *, count: bool = True) -> None:
        """One call finished; `count=False` for a call that is not one of the `total` (a re-send)."""
        if ok:
            self._ok += 1
        else:
            self._failed += 1
        if self._bar is not None:
            self._bar.set_postfix(ok=self._ok, failed=self._failed, refresh=False)
            self._bar.update(1 if count else 0)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
