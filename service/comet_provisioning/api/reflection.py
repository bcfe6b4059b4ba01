"""gRPC server reflection (`grpc.reflection.v1` and `v1alpha`) that shows the contract as written.

grpcio-reflection's servicer answers from the runtime descriptor pool, which cannot find the file of
a method (`grpcurl describe pkg.Service.Method` fails: grpc/grpc#34743) and holds no source info, so
`describe` shows no comment. This one answers from the FileDescriptorSet that `scripts/gen_protos.py`
builds with source info (`descriptors.binpb`, beside the generated code), indexed by protobuf's own
`DescriptorDatabase` (which finds a method, field or enum value through its enclosing symbol), plus
the runtime descriptors of the other services the server runs (health, reflection itself).

Both protocol versions use the same messages field for field, so one implementation serves both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from importlib import resources
from typing import Any, TypeAlias

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from google.protobuf.descriptor_database import DescriptorDatabase
from google.rpc import error_details_pb2
from grpc_reflection.v1alpha import reflection_pb2

__all__ = ["REFLECTION_SERVICES", "ReflectionIndex", "contract_files", "register_reflection"]

V1ALPHA = "grpc.reflection.v1alpha.ServerReflection"
V1 = "grpc.reflection.v1.ServerReflection"
REFLECTION_SERVICES = (V1, V1ALPHA)
_METHOD = "ServerReflectionInfo"
_DESCRIPTOR_SET = "descriptors.binpb"
# grpcio-reflection ships no type information.
Request: TypeAlias = Any
Response: TypeAlias = Any


def contract_files() -> list[descriptor_pb2.FileDescriptorProto]:
    """The contract's files and their imports, with source info (comments), as generated, less the
    `json_name` protoc fills in for every field: grpcurl prints a field under its `json_name` when
    the descriptor has one (`generatedPassword`) and under its .proto name otherwise
    (`generated_password`), which is what this service has always shown and operators' scripts read.
    The contract sets no `json_name` of its own."""
    data = resources.files("comet_provisioning_client.v1").joinpath(_DESCRIPTOR_SET).read_bytes()
    files = list(descriptor_pb2.FileDescriptorSet.FromString(data).file)
    for proto in files:
        for message in _messages(proto.message_type):
            for field in message.field:
                field.ClearField("json_name")
    return files


def _messages(
    messages: Iterable[descriptor_pb2.DescriptorProto],
) -> Iterable[descriptor_pb2.DescriptorProto]:
    for message in messages:
        yield message
        yield from _messages(message.nested_type)


def runtime_files(descriptor: FileDescriptor) -> list[descriptor_pb2.FileDescriptorProto]:
    """A compiled-in file and everything it imports (no source info: the runtime keeps none)."""
    found: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    pending = [descriptor]
    while pending:
        current = pending.pop()
        if current.name in found:
            continue
        proto = descriptor_pb2.FileDescriptorProto()
        current.CopyToProto(proto)
        found[current.name] = proto
        pending.extend(current.dependencies)
    return list(found.values())


def reflection_v1_file() -> descriptor_pb2.FileDescriptorProto:
    """`grpc/reflection/v1/reflection.proto`: the v1alpha file under the v1 package (the two
    versions define the same messages with the same field numbers); grpcio-reflection ships only
    v1alpha."""
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    old = "." + proto.package + "."
    proto.name = "grpc/reflection/v1/reflection.proto"
    proto.package = "grpc.reflection.v1"
    proto.ClearField("options")
    for message in proto.message_type:
        for field in message.field:
            if field.type_name.startswith(old):
                field.type_name = ".grpc.reflection.v1." + field.type_name[len(old) :]
    for service in proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(old, ".grpc.reflection.v1.")
            method.output_type = method.output_type.replace(old, ".grpc.reflection.v1.")
    return proto


class ReflectionIndex:
    """The files a reflection client may ask for, by name and by the symbols they define."""

    def __init__(self, files: Iterable[descriptor_pb2.FileDescriptorProto], services: Sequence[str]) -> None:
        self._db = DescriptorDatabase()
        self._serialized: dict[str, bytes] = {}
        for proto in files:
            if proto.name not in self._serialized:
                self._db.Add(proto)
                self._serialized[proto.name] = proto.SerializeToString()
        self.services = tuple(sorted(set(services)))
        for name in self.services:
            self._db.FindFileContainingSymbol(name)  # KeyError at start-up, not on a caller's request
        for name in self._serialized:
            self.file_by_name(name)  # every import is present

    def file_by_name(self, name: str) -> list[bytes]:
        """The file first, then every file it imports, transitively (what grpcurl needs)."""
        order: list[str] = []
        pending = [name]
        while pending:
            current = pending.pop(0)
            if current in order:
                continue
            order.append(current)
            pending.extend(self._db.FindFileByName(current).dependency)
        return [self._serialized[n] for n in order]

    def file_containing_symbol(self, symbol: str) -> list[bytes]:
        proto = self._db.FindFileContainingSymbol(symbol)
        return self.file_by_name(proto.name)

    def answer(self, request: Request) -> Response:
        response = reflection_pb2.ServerReflectionResponse(valid_host=request.host, original_request=request)
        kind = request.WhichOneof("message_request")
        try:
            if kind == "file_by_filename":
                files = self.file_by_name(request.file_by_filename)
            elif kind == "file_containing_symbol":
                files = self.file_containing_symbol(request.file_containing_symbol)
            elif kind == "list_services":
                response.list_services_response.service.extend(
                    reflection_pb2.ServiceResponse(name=name) for name in self.services
                )
                return response
            elif kind == "all_extension_numbers_of_type":
                # No file served extends a message: a known message has none, as protoc would say.
                self._db.FindFileContainingSymbol(request.all_extension_numbers_of_type)
                response.all_extension_numbers_response.base_type_name = request.all_extension_numbers_of_type
                return response
            elif kind == "file_containing_extension":
                return _error(response, grpc.StatusCode.NOT_FOUND, "this server defines no extensions")
            else:
                return _error(response, grpc.StatusCode.INVALID_ARGUMENT, "no request set")
        except KeyError:
            what = getattr(request, kind or "", "")
            return _error(response, grpc.StatusCode.NOT_FOUND, f"not found: {what}")
        response.file_descriptor_response.file_descriptor_proto.extend(files)
        return response

    async def stream(self, requests: AsyncIterator[Request], _context: Any) -> AsyncIterator[Response]:
        async for request in requests:
            yield self.answer(request)


def _error(response: Response, code: grpc.StatusCode, message: str) -> Response:
    response.error_response.error_code = code.value[0]
    response.error_response.error_message = message
    return response


def register_reflection(services: Sequence[str], server: Any) -> ReflectionIndex:
    """Registers reflection v1 and v1alpha on `server` for `services` (the two reflection services
    are added)."""
    index = ReflectionIndex(
        [
            *contract_files(),
            *_runtime_reflection_files(),
            # The error details every failure carries (ErrorInfo's reason, BadRequest's fields), so
            # grpcurl can print them instead of "google.rpc.ErrorInfo is not recognized".
            *runtime_files(error_details_pb2.DESCRIPTOR),
            *(proto for name in services for proto in _runtime_files_of(name)),
        ],
        [*services, *REFLECTION_SERVICES],
    )
    for service in REFLECTION_SERVICES:
        handler = grpc.stream_stream_rpc_method_handler(
            index.stream,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {_METHOD: handler}),))
        server.add_registered_method_handlers(service, {_METHOD: handler})
    return index


def _runtime_reflection_files() -> list[descriptor_pb2.FileDescriptorProto]:
    return [*runtime_files(reflection_pb2.DESCRIPTOR), reflection_v1_file()]


def _runtime_files_of(service: str) -> list[descriptor_pb2.FileDescriptorProto]:
    """Compiled-in files for services outside the contract (health): found in the default pool."""
    if service.startswith("comet.provisioning."):
        return []
    try:
        found = descriptor_pool.Default().FindServiceByName(service)
    except KeyError:
        return []
    return runtime_files(found.file)
