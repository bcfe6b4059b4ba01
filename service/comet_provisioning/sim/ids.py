"""Deterministic identifiers.

Every random-looking value the simulator hands out (CreationGUID, DestinationID, session keys,
policy ids) comes from one `random.Random`, so a seeded simulator replays identically.
"""

from __future__ import annotations

import random
import uuid

__all__ = ["IdSource"]


class IdSource:
    """A seedable source of GUIDs and opaque tokens."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)

    def reseed(self, seed: int | None) -> None:
        self._rng.seed(seed)

    def guid(self) -> str:
        """A random (version 4) UUID string, as Comet uses for item and vault ids."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def token(self, nbytes: int = 32) -> str:
        """An opaque hex token (session keys, recovery codes)."""
        return self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def hex_id(self, nbytes: int = 8) -> str:
        """A short uppercase hex id, the shape Comet uses for storage provider ids."""
        return self.token(nbytes).upper()
