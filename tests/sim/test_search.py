"""Search clause evaluation, without HTTP."""

from __future__ import annotations

import pytest
from comet_provisioning.sim.search import SearchError, matches

JOB = {"Username": "Alice01", "StartTime": 100, "Status": 5000, "Nested": {"Flag": True}}


def rule(field: str, op: str, value: str) -> dict[str, str]:
    return {"ClauseType": "", "RuleField": field, "RuleOperator": op, "RuleValue": value}


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        (rule("BackupJobDetail.Username", "str_eq", "Alice01"), True),
        (rule("BackupJobDetail.Username", "str_eq", "alice01"), False),
        (rule("BackupJobDetail.Username", "str_eq_ci", "alice01"), True),
        (rule("BackupJobDetail.Username", "str_neq", "x"), True),
        (rule("BackupJobDetail.Username", "str_contains", "ice"), True),
        (rule("BackupJobDetail.Username", "str_startswith", "Al"), True),
        (rule("BackupJobDetail.Username", "str_nendswith", "01"), False),
        (rule("BackupJobDetail.Username", "str_regexmatch", "^A.*1$"), True),
        (rule("BackupJobDetail.StartTime", "int_gt", "99"), True),
        (rule("BackupJobDetail.StartTime", "int_gt", "100"), False),
        (rule("BackupJobDetail.StartTime", "int_gte", "100"), True),
        (rule("BackupJobDetail.StartTime", "int_lt", "100"), False),
        (rule("BackupJobDetail.StartTime", "int_lte", "100"), True),
        (rule("BackupJobDetail.StartTime", "int_eq", "100"), True),
        (rule("BackupJobDetail.StartTime", "int_neq", "100"), False),
        (rule("BackupJobDetail.Missing", "int_gt", "0"), False),
        (rule("BackupJobDetail.Nested.Flag", "bool_is", "true"), True),
        (rule("BackupJobDetail.Nested.Flag", "bool_nis", "1"), False),
        ({"ClauseType": "and", "ClauseChildren": []}, True),
        ({"ClauseType": "or", "ClauseChildren": []}, False),
        ({"ClauseType": "not_and", "ClauseChildren": [rule("Username", "str_eq", "Alice01")]}, False),
        ({"ClauseType": "not_or", "ClauseChildren": [rule("Username", "str_eq", "x")]}, True),
    ],
)
def test_matches(clause: dict[str, object], expected: bool) -> None:
    assert matches(JOB, clause) is expected


@pytest.mark.parametrize(
    "clause",
    [
        rule("StartTime", "int_gt", "soon"),
        rule("Username", "str_like", "x"),
        {"ClauseType": "xor", "ClauseChildren": []},
        {"ClauseType": "and", "ClauseChildren": "nope"},
        ["not", "an", "object"],
    ],
)
def test_malformed(clause: object) -> None:
    with pytest.raises(SearchError):
        matches(JOB, clause)
