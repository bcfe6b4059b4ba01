"""A mutating request as its request id's record knows it (AIP-155): the method, the request id,
and the request without it, serialized deterministically for the fingerprint."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from comet_provisioning.core.mutations import Mutation

__all__ = ["fingerprint_bytes", "mutation", "serialized"]


def fingerprint_bytes(request: Message) -> bytes:
    clone: Any = type(request)()
    clone.CopyFrom(request)
    if clone.DESCRIPTOR.fields_by_name.get("request_id") is not None:
        clone.ClearField("request_id")
    data: bytes = clone.SerializeToString(deterministic=True)
    return data


def mutation(method: str, request: Message) -> Mutation:
    """`method`: the full RPC name."""
    return Mutation(method, getattr(request, "request_id", ""), fingerprint_bytes(request))


def serialized(message: Message) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data
