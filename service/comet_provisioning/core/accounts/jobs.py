"""Comet job records (BackupJobDetail) in readable terms: classification and status codes.

Codes from comet-api.md §3: classification 4001-4011; status 5000-5999 success, 6000-6999 running,
7000-7999 failed (7001 warning, 7002 error, 7003 quota, 7005 cancelled, 7007 abandoned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLASSIFICATION_BACKUP",
    "JobRecord",
    "job_record",
    "job_status",
    "job_type",
    "recent_jobs_query",
]

CLASSIFICATION_BACKUP = 4001

_TYPES = {
    4001: "BACKUP",
    4002: "RESTORE",
    4003: "RETENTION",
    4004: "UNLOCK",
    4005: "DELETE",
    4006: "MEASURE",
    4007: "UPDATE",
    4008: "IMPORT",
    4009: "REINDEX",
    4010: "VERIFY",
    4011: "UNINSTALL",
}
_FAILURES = {7001: "WARNING", 7002: "ERROR", 7003: "QUOTA_EXCEEDED", 7005: "CANCELLED", 7007: "ABANDONED"}


def job_type(classification: int) -> str:
    """ "BACKUP", "RESTORE", ... or "UNSPECIFIED" for a code this service does not know."""
    return _TYPES.get(classification, "UNSPECIFIED")


def job_status(status: int) -> str:
    """ "SUCCESS", "RUNNING", "WARNING", "ERROR", "QUOTA_EXCEEDED", "CANCELLED", "ABANDONED"; any
    other 7xxx failure is "ERROR"; outside the known ranges "UNSPECIFIED"."""
    if 5000 <= status <= 5999:
        return "SUCCESS"
    if 6000 <= status <= 6999:
        return "RUNNING"
    if 7000 <= status <= 7999:
        return _FAILURES.get(status, "ERROR")
    return "UNSPECIFIED"


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class JobRecord:
    id: str
    type: str
    status: str
    classification_code: int
    status_code: int
    start_time: int  # unix seconds; 0 when unknown
    end_time: int  # unix seconds; 0 while running
    protected_item_id: str
    vault_id: str
    device_id: str
    total_bytes: int
    upload_bytes: int


def job_record(detail: dict[str, Any]) -> JobRecord:
    """A BackupJobDetail as read from Comet, tolerant of missing or oddly typed fields."""
    classification, status = _int(detail.get("Classification")), _int(detail.get("Status"))
    readable = job_status(status)
    return JobRecord(
        id=_str(detail.get("GUID")),
        type=job_type(classification),
        status=readable,
        classification_code=classification,
        status_code=status,
        start_time=max(0, _int(detail.get("StartTime"))),
        end_time=0 if readable == "RUNNING" else max(0, _int(detail.get("EndTime"))),
        protected_item_id=_str(detail.get("SourceGUID")),
        vault_id=_str(detail.get("DestinationGUID")),
        device_id=_str(detail.get("DeviceID")),
        total_bytes=max(0, _int(detail.get("TotalSize"))),
        upload_bytes=max(0, _int(detail.get("UploadSize"))),
    )


def recent_jobs_query(username: str, since_unix: int) -> dict[str, Any]:
    """The get-jobs-for-custom-search clause: this user's jobs started after `since_unix`."""

    def rule(field: str, operator: str, value: str) -> dict[str, Any]:
        return {
            "ClauseType": "",
            "RuleField": f"BackupJobDetail.{field}",
            "RuleOperator": operator,
            "RuleValue": value,
            "ClauseChildren": [],
        }

    return {
        "ClauseType": "and",
        "RuleField": "",
        "RuleOperator": "",
        "RuleValue": "",
        "ClauseChildren": [
            rule("Username", "str_eq", username),
            rule("StartTime", "int_gt", str(since_unix)),
        ],
    }
