"""Streaming a client installer (15-50 MB) straight through, never holding it in memory."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import aiohttp

from .classify import NETWORK_ERRORS, classify_exception
from .errors import CometError

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


class ClientDownload:
    """An installer being streamed. Valid only inside ``CometClient.download_client``'s context."""

    def __init__(
        self,
        response: aiohttp.ClientResponse,
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
        disposition = response.content_disposition
        self.filename: str = safe_filename(disposition.filename if disposition else None, platform)
        self.size: int | None = response.content_length
        self.content_type: str = response.headers.get("Content-Type", "application/octet-stream")
        self.bytes_read = 0
        self.complete = False

    async def iter_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> AsyncIterator[bytes]:
        """Yield the body in chunks of at most ``chunk_size`` bytes as they arrive."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        try:
            async for chunk in self._response.content.iter_chunked(chunk_size):
                self.bytes_read += len(chunk)
                yield chunk
        except NETWORK_ERRORS as exc:
            error = classify_exception(self._server_id, self._endpoint, exc, request_sent=True)
            self._on_error(error)
            raise error from exc
        self.complete = True
