"""Small proto <-> domain helpers shared by the servicers: enums by name, timestamps, deadlines."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
from google.protobuf import timestamp_pb2

if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
else:
    Context = grpc.aio.ServicerContext

__all__ = ["Context", "enum_in", "remaining_s", "timestamp"]


def enum_in(enum: Any, value: int, prefix: str) -> str:
    """A proto enum number as its name without `prefix` ("HTTPS"), or "?N" for an unknown number."""
    try:
        name: str = enum.Name(value)
    except ValueError:
        return f"?{value}"
    return name.removeprefix(prefix)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    """An aware datetime as a Timestamp (integer arithmetic: cheaper than FromDatetime, as exact)."""
    since = value - _EPOCH if value.tzinfo is not None else value - _EPOCH.replace(tzinfo=None)
    return timestamp_pb2.Timestamp(
        seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000
    )


def remaining_s(context: Context, default: float, *, margin: float = 0.25) -> float:
    """How long a Comet call may take: `default`, shortened to fit the caller's deadline."""
    remaining = context.time_remaining()
    if remaining is None:
        return default
    return max(0.05, min(default, remaining - margin))
