"""Streaming a client installer (15-50 MB) straight through, never holding it in memory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from email.message import Message

from .classify import transport_failure
from .errors import CometError
from .transport import StreamReply, TransportError, header

__all__ = ["DEFAULT_CHUNK_SIZE", "ClientDownload", "default_filename", "validate_platform"]

DEFAULT_CHUNK_SIZE = 64 * 1024

_PLATFORM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9_.() -]")


def validate_platform(platform: str) -> str:
    """The platform goes into the URL path, so only plain tokens like ``windows-x86_64-zip`` pass."""
    if not _PLATFORM_RE.fullmatch(platform):
        raise ValueError(f"invalid client platform {platform!r}")
    return platform


def default_filename(platform: str) -> str:
    """A filename for a reply without ``Content-Disposition``, with an extension that fits the platform."""
    if platform.endswith("-zip"):
        return f"CometBackup-{platform.removesuffix('-zip')}.zip"
    if platform.startswith("macos"):
        return f"CometBackup-{platform}.pkg"
    if platform.startswith("linux"):
        return f"CometBackup-{platform}.run"
    return f"CometBackup-{platform}.bin"


def safe_filename(name: str | None, platform: str) -> str:
    """The server's suggested name reduced to a bare, harmless file name."""
    if not name:
        return default_filename(platform)
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_FILENAME_CHARS.sub("_", base).strip(" .")
    return base or default_filename(platform)


def disposition_filename(headers: Mapping[str, str]) -> str | None:
    """The file name a ``Content-Disposition`` header suggests (RFC 6266, ``filename*`` included)."""
    value = header(headers, "Content-Disposition")
    if not value:
        return None
    message = Message()
    message["Content-Disposition"] = value
    return message.get_filename()


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = header(headers, "Content-Length")
    return int(value) if value is not None and value.isdigit() else None


class ClientDownload:
    """An installer being streamed. Valid only inside ``CometClient.download_client``'s context."""

    def __init__(
        self,
        response: StreamReply,
        *,
        server_id: str,
        endpoint: str,
        platform: str,
        on_error: Callable[[CometError], None],
    ) -> None:
        self._response = response
        self._server_id = server_id
        self._endpoint = endpoint
        self._on_error = on_error
        self.filename: str = safe_filename(disposition_filename(response.headers), platform)
        self.size: int | None = _content_length(response.headers)
        self.content_type: str = header(response.headers, "Content-Type") or "application/octet-stream"
        self.bytes_read = 0
        self.complete = False

    async def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Yield the body in chunks of at most ``chunk_size`` bytes as they arrive."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        try:
            async for chunk in self._response.iter_chunks(chunk_size):
                self.bytes_read += len(chunk)
                yield chunk
        except TransportError as exc:
            error = transport_failure(self._server_id, self._endpoint, exc)
            self._on_error(error)
            raise error from exc
        self.complete = True
