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


def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def remaining_s(context: Context, default: float, *, margin: float = 0.25) -> float:
    """How long a Comet call may take: `default`, shortened to fit the caller's deadline."""
    remaining = context.time_remaining()
    if remaining is None:
        return default
    return max(0.05, min(default, remaining - margin))
