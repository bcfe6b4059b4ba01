"""Bad-input fuzzing of every RPC, driven by the service descriptors (a new method is covered
without touching this file).

Requests are random messages built from each method's input descriptor (huge strings, unknown
enum numbers, negative and enormous integers, random field masks and map keys, known and unknown
ids) or raw bytes sent on a generic channel (invalid UTF-8 in string fields at any depth, wrong
wire types, truncations, garbage). Each call must end in anything but UNKNOWN or INTERNAL (or a
client-side deadline: a hang), the server must still answer SERVING, and a rejected call must leave
the store's tables exactly as they were.

The service runs in an event loop elsewhere; the examples run synchronously (sync gRPC channel,
sqlite3 reads) in a worker thread, so hypothesis drives them as plain functions.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from comet_provisioning.api.auth import SERVICE_DESCRIPTORS
from comet_provisioning_client.v1 import accounts_pb2, accounts_pb2_grpc
from google.protobuf import field_mask_pb2, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from tests.reliability.support import OPTION_KEYS, Known, Snapshot, snapshot

# Rejections: nothing may have been written. (ABORTED/UNAVAILABLE/DEADLINE_EXCEEDED may keep
# progress by design: "progress is kept; a retry resumes".)
REJECTED = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNIMPLEMENTED,
}
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED}
CALL_TIMEOUT_S = 20.0

INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "\x00admin\x00",
    "'; DROP TABLE accounts; --",
    "../../etc/passwd",
    "%s%n%x{0}",
    "\u202e\u0644\u0627",  # RTL override, Arabic
    "🦀" * 40,
    "a" * 101,
    "a" * 201,
    "a" * 501,
    "user@example.com\r\nX-Injected: 1",
    "ACCOUNT_STATUS_ACTIVE",
    "*",
    "null",
]
HUGE_SIZES = (4_096, 65_537, 1_000_000)
INVALID_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"ok\x80ok",
    b"\xf8\x88\x80\x80",
]


def methods() -> list[MethodDescriptor]:
    """Every method of every service; the destructive ones last, so the others see a live world."""
    found = [method for service in SERVICE_DESCRIPTORS for method in service.methods]
    return sorted(found, key=lambda m: m.name.startswith(("Delete", "Terminate")))


def method_path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


# --- messages ------------------------------------------------------------------------------------


def _ids_for(name: str, known: Known) -> list[str]:
    by_name = {
        "server_id": known.server_ids,
        "server_group_id": known.group_ids,
        "product_id": known.product_ids,
        "account_id": known.account_ids,
        "policy_id": known.policy_ids,
        "storage_provider_id": known.provider_ids,
        "username": known.usernames,
        "key": list(OPTION_KEYS),
    }
    if name in by_name:
        return by_name[name]
    if name == "id" or name.endswith("_ids"):
        return known.all_ids()
    return []


def host_strategy(known: Known) -> st.SearchStrategy[str]:
    """Loopback or not a host name at all: the fuzzer must never make the service look up or call
    anything off this machine."""
    loopback = ["127.0.0.1", "localhost", "[::1]", "::1", "127.0.0.1:1", "127.0.0.1:99999", "127.0.0.2"]
    invalid = ["", " ", "127.0.0.1/x", "http://127.0.0.1/a?b", "user@127.0.0.1", "\x00", "127.0.0.1\r\nX: 1"]
    return st.one_of(
        st.sampled_from(loopback + known.hosts),
        st.sampled_from(invalid),
        st.text(max_size=30).map(lambda s: f"{s} not a host/"),
        st.sampled_from(HUGE_SIZES).map(lambda n: "1." * n),
    )


WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=16)


def sane_string(name: str, known: Known) -> st.SearchStrategy[str]:
    """Values a well-behaved caller would send, so a request gets past the first check."""
    ids = _ids_for(name, known)
    if ids:
        return st.sampled_from(ids)
    if name == "host":
        return st.sampled_from(known.hosts or ["127.0.0.1"])
    if name == "email":
        return WORD.map(lambda w: f"{w}@example.com")
    if "password" in name:
        return WORD.map(lambda w: f"Pw-{w}-0123456789")
    if name == "currency_code":
        return st.sampled_from(["USD", "EUR", "GBP"])
    if name == "request_id":  # fresh ids, now and then one used before (a replay or a reuse)
        return st.one_of(st.uuids().map(str), st.uuids().map(str), st.sampled_from(["fuzz-1", "fuzz-2"]))
    if name == "admin_username":
        return st.just("admin")
    if name in {"page_token", "ca_bundle_pem", "base_url"}:
        return st.just("")
    return WORD


def nasty_string(name: str, known: Known) -> st.SearchStrategy[str]:
    if name == "host":
        return host_strategy(known)
    options: list[st.SearchStrategy[str]] = [
        st.text(max_size=40),
        st.sampled_from(NASTY_STRINGS),
        st.sampled_from(HUGE_SIZES).map(lambda n: "x" * n),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=300),
    ]
    if name == "request_id":
        options.append(st.sampled_from(["seed-0", "seed-1", "fresh-1", "fuzz-1"]))
    return st.one_of(options)


def sane_int(name: str) -> st.SearchStrategy[int]:
    if name == "port":
        return st.just(0)  # the host carries it
    return st.integers(0, 10)


def nasty_int(kind: int) -> st.SearchStrategy[int]:
    lo, hi = INT_RANGES[kind]
    edges = sorted({v for v in (lo, lo + 1, -1, 0, 1, 2, 10, 1000, 10**12, hi - 1, hi) if lo <= v <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def scalar_strategy(fd: FieldDescriptor, known: Known, sane: bool) -> st.SearchStrategy[Any]:
    t = fd.type
    if t == FieldDescriptor.TYPE_STRING:
        return sane_string(fd.name, known) if sane else nasty_string(fd.name, known)
    if t == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=200)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        numbers = [v.number for v in fd.enum_type.values]
        if sane:
            return st.sampled_from([n for n in numbers if n] or numbers)
        return st.sampled_from([0, -1, max(numbers) + 1, 999, 2**31 - 1, -(2**31)])
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=not sane, allow_infinity=not sane, width=32)
    if t in INT_RANGES:
        return sane_int(fd.name) if sane else nasty_int(t)
    raise AssertionError(f"unhandled field type {t} of {fd.full_name}")


def field_strategy(fd: FieldDescriptor, known: Known, nasty_weight: int) -> st.SearchStrategy[Any]:
    """Sane most of the time (1 in nasty_weight+1 chances nasty; nasty_weight 0: always sane)."""
    sane = scalar_strategy(fd, known, True)
    if nasty_weight < 0:
        return scalar_strategy(fd, known, False)
    return st.one_of([sane] * nasty_weight + [scalar_strategy(fd, known, False)]) if nasty_weight else sane


def field_mask_strategy(parent: Descriptor | None, sane: bool) -> st.SearchStrategy[Message]:
    valid: list[str] = []
    if parent is not None:
        for fd in parent.fields:
            for inner in fd.message_type.fields if fd.message_type else []:
                valid.append(inner.name)
                for leaf in inner.message_type.fields if inner.message_type else []:
                    valid.append(f"{inner.name}.{leaf.name}")
    invalid = ["", "*", "no_such_field", "connection.", ".", "a.b.c.d", *(f"{v}.x" for v in valid[:5])]
    path = st.sampled_from(valid or ["id"])
    if not sane:
        path = st.one_of(path, st.sampled_from(invalid), st.text(max_size=20))
    return st.lists(path, min_size=0 if not sane else 1, max_size=6 if not sane else 2).map(
        lambda p: field_mask_pb2.FieldMask(paths=p)
    )


def message_strategy(
    desc: Descriptor,
    known: Known,
    nasty_weight: int = -1,
    depth: int = 0,
    parent: Descriptor | None = None,
    *,
    dense: bool = False,
) -> st.SearchStrategy[Message]:
    """A message of `desc`: each value sane or nasty (see field_strategy); every field set when
    `dense`, else a random subset."""
    cls = message_factory.GetMessageClass(desc)
    if desc.full_name == "google.protobuf.FieldMask":
        return field_mask_strategy(parent, nasty_weight == 0)
    if depth > 3:
        return st.just(cls())
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for fd in desc.fields:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            key_fd, value_fd = fd.message_type.fields_by_name["key"], fd.message_type.fields_by_name["value"]
            keys = field_strategy(key_fd, known, nasty_weight)
            values = (
                field_strategy(value_fd, known, nasty_weight)
                if value_fd.message_type is None
                else message_strategy(
                    value_fd.message_type, known, nasty_weight, depth + 1, desc, dense=dense
                )
            )
            fields[fd.name] = st.dictionaries(keys, values, max_size=6)
        elif fd.message_type is not None:
            inner = message_strategy(fd.message_type, known, nasty_weight, depth + 1, desc, dense=dense)
            fields[fd.name] = st.lists(inner, max_size=4) if fd.is_repeated else inner
        elif fd.is_repeated:
            fields[fd.name] = st.lists(field_strategy(fd, known, nasty_weight), max_size=6)
        else:
            fields[fd.name] = field_strategy(fd, known, nasty_weight)

    def build(values: dict[str, Any]) -> Message:
        message = cls()
        for name, value in values.items():
            fd = desc.fields_by_name[name]
            target = getattr(message, name)
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                for k, v in value.items():
                    if isinstance(v, Message):
                        target[k].CopyFrom(v)
                    else:
                        target[k] = v
            elif fd.is_repeated:
                if fd.message_type is not None:
                    for item in value:
                        target.add().CopyFrom(item)
                else:
                    target.extend(value)
            elif fd.message_type is not None:
                target.CopyFrom(value)
            else:
                setattr(message, name, value)
        return message

    if dense:
        return st.fixed_dictionaries(fields).map(build)
    return st.fixed_dictionaries({}, optional=fields).map(build)


# --- raw bytes -----------------------------------------------------------------------------------


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def string_paths(desc: Descriptor, depth: int = 0) -> list[list[FieldDescriptor]]:
    """Every path of message fields ending in a string field (map keys included)."""
    found: list[list[FieldDescriptor]] = []
    for fd in desc.fields:
        if fd.type == FieldDescriptor.TYPE_STRING:
            found.append([fd])
        elif fd.message_type is not None and depth < 3:
            found += [[fd, *rest] for rest in string_paths(fd.message_type, depth + 1)]
    return found


def invalid_utf8_bytes(desc: Descriptor) -> st.SearchStrategy[bytes]:
    paths = string_paths(desc)
    if not paths:
        return st.binary(max_size=64)

    def encode(path: list[FieldDescriptor], bad: bytes) -> bytes:
        data = length_delimited(path[-1].number, bad)
        for fd in reversed(path[:-1]):
            data = length_delimited(fd.number, data)
        return data

    return st.builds(encode, st.sampled_from(paths), st.sampled_from(INVALID_UTF8))


def wrong_wire_type(desc: Descriptor) -> st.SearchStrategy[bytes]:
    numbers = [fd.number for fd in desc.fields] or [1]

    def encode(number: int, wire: int, tail: bytes) -> bytes:
        return varint(number << 3 | wire) + tail

    return st.builds(
        encode, st.sampled_from(numbers), st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7]), st.binary(max_size=12)
    )


def raw_strategy(desc: Descriptor, known: Known) -> st.SearchStrategy[bytes]:
    valid = message_strategy(desc, known, 3).map(lambda m: m.SerializeToString())
    return st.one_of(
        st.binary(max_size=256),
        st.tuples(valid, invalid_utf8_bytes(desc)).map(lambda p: p[0] + p[1]),
        st.tuples(invalid_utf8_bytes(desc), valid).map(lambda p: p[0] + p[1]),
        st.tuples(valid, wrong_wire_type(desc)).map(lambda p: p[0] + p[1]),
        st.tuples(valid, st.integers(0, 64)).map(
            lambda p: p[0][: max(0, len(p[0]) - 1 - p[1])] + b"\x0a\xff"
        ),
        st.tuples(valid, st.integers(16, 2**29 - 1), st.binary(max_size=16)).map(
            lambda p: p[0] + length_delimited(p[1], p[2])  # unknown fields: ignored, not an error
        ),
        st.just(b"\x0a" + varint(2**31)),  # a length far past the end
    )


def request_strategy(method: MethodDescriptor, known: Known) -> st.SearchStrategy[tuple[str, bytes]]:
    desc = method.input_type

    def encoded(kind: str, nasty_weight: int, dense: bool = False) -> st.SearchStrategy[tuple[str, bytes]]:
        strategy = message_strategy(desc, known, nasty_weight, dense=dense)
        return strategy.map(lambda m: (kind, m.SerializeToString()))

    return st.one_of(
        encoded("sane", 0, dense=True),  # every field, every value plausible: reaches deep code
        encoded("sane-sparse", 0),
        encoded("one-bad", 8, dense=True),  # plausible but for the odd nasty value
        encoded("mixed", 1),
        encoded("wild", -1),  # every value nasty
        raw_strategy(desc, known).map(lambda b: ("raw", b)),
    )


def reason_of(err: grpc.RpcError) -> str:
    for key, value in err.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key == "grpc-status-details-bin":
            for detail in status_pb2.Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return ""


# --- running -------------------------------------------------------------------------------------


@dataclass
class FuzzStats:
    calls: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)  # sane, one-bad, mixed, wild, raw
    per_method: dict[str, Counter[str]] = field(default_factory=dict)
    rejected_checked: int = 0
    health_checks: int = 0
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, method: str, kind: str, code: str) -> None:
        with self.lock:
            self.calls += 1
            self.kinds[kind] += 1
            self.codes[code] += 1
            self.per_method.setdefault(method, Counter())[code] += 1


class Fuzzer:
    """Sync calls to the in-process service (which runs in another thread's event loop)."""

    def __init__(
        self,
        address: str,
        db_path: Path,
        known: Known,
        *,
        hidden_product_id: str = "",
        metadata: Any = None,
    ) -> None:
        self.channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 8 << 20)])
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.db_path = db_path
        self.known = known
        self.base_accounts = list(known.account_ids)
        self.hidden_product_id = hidden_product_id
        self.accounts = accounts_pb2_grpc.AccountServiceStub(self.channel)
        self.fresh = 0
        self.metadata = metadata
        self.stats = FuzzStats()

    def close(self) -> None:
        self.channel.close()

    def call(self, method: MethodDescriptor, payload: bytes) -> tuple[grpc.StatusCode, str]:
        """The status code and the ErrorInfo reason ("" for none)."""
        path = method_path(method)
        try:
            if method.server_streaming:
                stream = self.channel.unary_stream(path)(
                    payload, timeout=CALL_TIMEOUT_S, metadata=self.metadata
                )
                for _ in stream:
                    pass
            else:
                self.channel.unary_unary(path)(payload, timeout=CALL_TIMEOUT_S, metadata=self.metadata)
        except grpc.RpcError as err:
            return err.code(), reason_of(err)  # type: ignore[attr-defined]
        return grpc.StatusCode.OK, ""

    def serving(self) -> bool:
        self.stats.health_checks += 1
        reply = self.health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def example(self, method: MethodDescriptor, kind: str, payload: bytes) -> None:
        """One example: the call, then the three properties."""
        before: Snapshot = snapshot(self.db_path)
        code, reason = self.call(method, payload)
        self.stats.record(method.name, kind, code.name)
        note(f"{method.name} {kind} {len(payload)} bytes -> {code.name} {reason}: {payload[:300]!r}")
        assert code not in FORBIDDEN, f"{method.name}: {code.name} for {kind} {payload[:300]!r}"
        assert self.serving(), f"not SERVING after {method.name}"
        # A Comet-side failure (COMET_AUTH_FAILED, COMET_TLS_ERROR, ...) stops an accepted operation
        # that keeps its progress (a FAILED account ProvisionAccount resumes); it is no rejection.
        if code in REJECTED and not reason.startswith("COMET_"):
            self.stats.rejected_checked += 1
            after = snapshot(self.db_path)
            changed = before.differs(after)
            assert not changed, f"{method.name} was rejected ({code.name}) but wrote to {changed}"

    def refresh_accounts(self) -> None:
        """A fresh ACTIVE and a fresh SUSPENDED account (on a product the fuzzer cannot reach), so
        each method meets live accounts whatever the methods before it did to the seeded ones."""
        if not self.hidden_product_id:
            return
        fresh: list[str] = []
        for suspend in (False, True):
            self.fresh += 1
            created = self.accounts.CreateAccount(
                accounts_pb2.CreateAccountRequest(
                    request_id=f"fresh-{self.fresh}",
                    product_id=self.hidden_product_id,
                    customer=accounts_pb2.Customer(email=f"fresh{self.fresh}@example.com"),
                ),
                timeout=30,
                metadata=self.metadata,
            )
            if suspend:
                self.accounts.SuspendAccount(
                    accounts_pb2.SuspendAccountRequest(id=created.account.id),
                    timeout=30,
                    metadata=self.metadata,
                )
            fresh.append(created.account.id)
        self.known.account_ids = [*self.base_accounts, *fresh]

    def fuzz(self, method: MethodDescriptor, max_examples: int) -> None:
        """Runs hypothesis on one method; raises on the first (shrunk) counterexample."""
        self.refresh_accounts()

        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=False,
        )
        @given(request_strategy(method, self.known))
        def run(request: tuple[str, bytes]) -> None:
            self.example(method, *request)

        run()

    def fuzz_all(
        self, max_examples: int, *, only: Callable[[MethodDescriptor], bool] = lambda m: True
    ) -> FuzzStats:
        """Every method; failures are collected (not raised) so one bug does not hide the others."""
        for method in methods():
            if not only(method):
                continue
            try:
                self.fuzz(method, max_examples)
            except Exception as exc:  # hypothesis re-raises the shrunk example's error
                notes = " | ".join(getattr(exc, "__notes__", []))
                self.stats.problems.append(f"{method.name}: {type(exc).__name__}: {exc} {notes}")
        return self.stats
