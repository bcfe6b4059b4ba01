"""Servicer bases whose every method answers UNIMPLEMENTED, naming the issue that will build it.

Concrete servicers subclass one and override what is built; nothing ever fakes a success.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

from google.protobuf.descriptor import ServiceDescriptor

from comet_provisioning.core.errors import unimplemented

T = TypeVar("T")


def pending_servicer(base: Callable[[], T], service: ServiceDescriptor, issues: dict[str, int]) -> type[T]:
    """Subclass of the generated `base` with async UNIMPLEMENTED methods; `issues` maps method→issue."""
    namespace: dict[str, Any] = {}
    for method in service.methods:
        issue = issues.get(method.name, 0)
        if method.server_streaming:
            namespace[method.name] = _streaming(method.name, issue)
        else:
            namespace[method.name] = _unary(method.name, issue)
    pending: type[T] = type(f"Pending{getattr(base, '__name__', 'Servicer')}", (cast(type, base),), namespace)
    return pending


def _unary(name: str, issue: int) -> Any:
    async def method(self: Any, request: Any, context: Any) -> Any:
        raise unimplemented(name, issue)

    method.__name__ = name
    return method


def _streaming(name: str, issue: int) -> Any:
    async def method(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
        raise unimplemented(name, issue)
        yield  # pragma: no cover - makes this an async generator, as streaming handlers must be

    method.__name__ = name
    return method
