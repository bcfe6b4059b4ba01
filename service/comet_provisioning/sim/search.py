"""Comet search clauses (`get-jobs-for-custom-search` `Query`).

A clause is `{ClauseType, RuleField, RuleOperator, RuleValue, ClauseChildren}`; `ClauseType` ""
is a rule, "and"/"or"/"not_and"/"not_or" combine children. `RuleField` names a dotted path such
as `BackupJobDetail.StartTime`; `RuleValue` is always a string.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["SearchError", "matches", "validate"]


class SearchError(ValueError):
    """The query is malformed (unknown operator or clause type, non-numeric int value)."""


def _lookup(record: dict[str, Any], field: str) -> Any:
    parts = field.split(".")
    if parts and parts[0] in ("BackupJobDetail", "UserProfileConfig"):
        parts = parts[1:]
    value: Any = record
    for part in parts:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SearchError(f"{what} {value!r} is not an integer") from None


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _str(value: Any) -> str:
    return "" if value is None else str(value)


_STR_OPS: dict[str, Callable[[str, str], bool]] = {
    "str_eq": lambda a, b: a == b,
    "str_neq": lambda a, b: a != b,
    "str_contains": lambda a, b: b in a,
    "str_ncontains": lambda a, b: b not in a,
    "str_startswith": lambda a, b: a.startswith(b),
    "str_nstartswith": lambda a, b: not a.startswith(b),
    "str_endswith": lambda a, b: a.endswith(b),
    "str_nendswith": lambda a, b: not a.endswith(b),
    "str_regexmatch": lambda a, b: re.search(b, a) is not None,
    "str_nregexmatch": lambda a, b: re.search(b, a) is None,
}

_INT_OPS: dict[str, Callable[[int, int], bool]] = {
    "int_eq": lambda a, b: a == b,
    "int_neq": lambda a, b: a != b,
    "int_gt": lambda a, b: a > b,
    "int_gte": lambda a, b: a >= b,
    "int_lt": lambda a, b: a < b,
    "int_lte": lambda a, b: a <= b,
}


def _rule(record: dict[str, Any], clause: dict[str, Any]) -> bool:
    op = str(clause.get("RuleOperator", ""))
    field_value = _lookup(record, str(clause.get("RuleField", "")))
    rule_value = clause.get("RuleValue", "")
    if op in _STR_OPS:
        return _STR_OPS[op](_str(field_value), _str(rule_value))
    if op.endswith("_ci") and op[:-3] in _STR_OPS:
        return _STR_OPS[op[:-3]](_str(field_value).lower(), _str(rule_value).lower())
    if op in _INT_OPS:
        if field_value is None:
            return False
        return _INT_OPS[op](_as_int(field_value, "field"), _as_int(rule_value, "RuleValue"))
    if op in ("bool_is", "bool_nis"):
        same = _as_bool(field_value) == _as_bool(rule_value)
        return same if op == "bool_is" else not same
    raise SearchError(f"unknown RuleOperator {op!r}")


_CLAUSE_TYPES = ("", "and", "or", "not_and", "not_or")
_BOOL_OPS = ("bool_is", "bool_nis")


def _known_operator(op: str) -> bool:
    base = op[:-3] if op.endswith("_ci") else op
    return base in _STR_OPS or op in _INT_OPS or op in _BOOL_OPS


def validate(clause: Any) -> None:
    """Check a whole clause tree up front, so a bad query fails even when no record is tested."""
    if not isinstance(clause, dict):
        raise SearchError("a search clause must be a JSON object")
    kind = str(clause.get("ClauseType", ""))
    if kind not in _CLAUSE_TYPES:
        raise SearchError(f"unknown ClauseType {kind!r}")
    if kind == "":
        op = str(clause.get("RuleOperator", ""))
        if not _known_operator(op):
            raise SearchError(f"unknown RuleOperator {op!r}")
        if op in _INT_OPS:
            _as_int(clause.get("RuleValue", ""), "RuleValue")
        return
    children = clause.get("ClauseChildren") or []
    if not isinstance(children, list):
        raise SearchError("ClauseChildren must be a list")
    for child in children:
        validate(child)


def matches(record: dict[str, Any], clause: Any) -> bool:
    """Whether `record` satisfies `clause`; raises SearchError for a malformed clause."""
    if not isinstance(clause, dict):
        raise SearchError("a search clause must be a JSON object")
    kind = str(clause.get("ClauseType", ""))
    if kind == "":
        return _rule(record, clause)
    children = clause.get("ClauseChildren") or []
    if not isinstance(children, list):
        raise SearchError("ClauseChildren must be a list")
    if kind == "and":
        return all(matches(record, child) for child in children)
    if kind == "or":
        return any(matches(record, child) for child in children)
    if kind == "not_and":
        return not all(matches(record, child) for child in children)
    if kind == "not_or":
        return not any(matches(record, child) for child in children)
    raise SearchError(f"unknown ClauseType {kind!r}")
