"""Field masks for updates (AIP-134): check the paths, then copy the named fields.

The domain specs mirror the proto messages' field names, so a mask path is an attribute path.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from .errors import Violations

__all__ = ["apply_mask", "expand_mask"]


def expand_mask(
    paths: Sequence[str],
    *,
    groups: Mapping[str, Collection[str]],
    leaves: Collection[str],
    output_only: Collection[str],
    field: str = "update_mask",
) -> set[str]:
    """The leaf paths a mask names. `groups` maps a message path (and "*") to its leaves.

    Every unknown or output-only path is named in one INVALID_ARGUMENT (reason INVALID_UPDATE_MASK).
    """
    violations = Violations()
    if not paths:
        violations.add(field, 'required: name the fields to change (or "*")')
    result: set[str] = set()
    for path in paths:
        if path in groups:
            result.update(groups[path])
        elif path in leaves:
            result.add(path)
        elif path in output_only or any(path.startswith(p + ".") for p in output_only):
            violations.add(field, f"{path!r} is output only or immutable and cannot be updated")
        else:
            violations.add(field, f"{path!r} is not a field that can be updated")
    violations.raise_if_any("INVALID_UPDATE_MASK")
    return result


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def apply_mask(target: Any, source: Any, leaves: Collection[str]) -> None:
    """Copy each leaf path from `source` into `target` (both mutable dataclass trees)."""
    for path in sorted(leaves):
        head, _, last = path.rpartition(".")
        owner = _get(target, head) if head else target
        setattr(owner, last, _get(source, path))
