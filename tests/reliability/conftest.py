"""The reliability tests time faults against a load (a slow Comet, a crash at a count), so they run
alone after the rest (`make pytest`): sharing the two cores with another worker shifts those
timings."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.serial)
