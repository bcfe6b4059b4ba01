"""Deterministic client installers, produced chunk by chunk.

Real installers are 15-50 MB; the simulator makes bytes of any size that are the same for the same
(seed, platform, size), without ever holding more than one chunk, so the client's streaming code is
exercised and tests can still verify the content (`installer_digest`).
"""

from __future__ import annotations

import hashlib
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["PLATFORMS", "InstallerKind", "installer_chunks", "installer_digest"]


@dataclass(frozen=True)
class InstallerKind:
    filename: str
    content_type: str
    magic: bytes


PLATFORMS: dict[str, InstallerKind] = {
    "windows-anycpu-exe": InstallerKind("CometBackup_install_AnyCPU.exe", "application/octet-stream", b"MZ"),
    "windows-anycpu-zip": InstallerKind("CometBackup_install_AnyCPU.zip", "application/zip", b"PK\x03\x04"),
    "windows-x86_64-zip": InstallerKind("CometBackup_install_x86_64.zip", "application/zip", b"PK\x03\x04"),
    "windows-x86_32-zip": InstallerKind("CometBackup_install_x86_32.zip", "application/zip", b"PK\x03\x04"),
    "linuxgeneric": InstallerKind("CometBackup_install.run", "application/octet-stream", b"#!/bin/sh\n"),
    "macos-x86_64": InstallerKind("CometBackup_install_x86_64.pkg", "application/octet-stream", b"xar!"),
    "macos-arm64": InstallerKind("CometBackup_install_arm64.pkg", "application/octet-stream", b"xar!"),
    "spk-dsm6": InstallerKind("CometBackup_dsm6.spk", "application/octet-stream", b"\x00\x00"),
    "spk-dsm7": InstallerKind("CometBackup_dsm7.spk", "application/octet-stream", b"\x00\x00"),
}


def installer_chunks(
    platform: str, size: int, *, seed: int = 0, chunk_size: int = 64 * 1024
) -> Iterator[bytes]:
    """The installer's bytes in chunks of `chunk_size` (the last one shorter)."""
    kind = PLATFORMS[platform]
    rng = random.Random(seed * 1_000_003 + zlib.crc32(platform.encode()))
    block = rng.randbytes(chunk_size)
    sent = 0
    index = 0
    while sent < size:
        n = min(chunk_size, size - sent)
        if index == 0:
            chunk = (kind.magic + block[len(kind.magic) :])[:n]
        else:
            stamp = index.to_bytes(8, "big")
            chunk = (stamp + block[8:])[:n]
        yield chunk
        sent += n
        index += 1


def installer_digest(platform: str, size: int, *, seed: int = 0, chunk_size: int = 64 * 1024) -> str:
    """SHA-256 of the whole installer, for tests that check a download arrived intact."""
    digest = hashlib.sha256()
    for chunk in installer_chunks(platform, size, seed=seed, chunk_size=chunk_size):
        digest.update(chunk)
    return digest.hexdigest()
