"""Read-modify-write of a user profile with optimistic concurrency, decided from Comet's state.

A stale hash is recognised by its configured code, but also without one: a hash-checked write
refused for any lasting reason is followed by a read, and if the hash moved since the one sent, the
refusal was a conflict (re-apply and retry); if it did not move, the refusal stands.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

from .errors import CometApiError, CometError, CometHashConflict, converted
from .models import JSONDict, ProfileAndHash, UpdatedProfile

__all__ = ["ProfileMutator", "is_lasting_refusal", "update_profile"]

ProfileMutator: TypeAlias = Callable[[JSONDict], bool | None]
"""Edits a profile in place; returns False when nothing needed changing (the write is skipped)."""

Read = Callable[[], Awaitable[ProfileAndHash]]
Write = Callable[[JSONDict, str], Awaitable[ProfileAndHash | None]]


def is_lasting_refusal(error: CometError) -> bool:
    """A reply from Comet refusing the call, which sending it again unchanged would not fix."""
    return isinstance(error, CometApiError) and not error.retryable


async def update_profile(
    read: Read,
    write: Write,
    mutate: ProfileMutator,
    *,
    current: ProfileAndHash | None,
    max_attempts: int,
) -> UpdatedProfile:
    """Apply ``mutate`` starting from ``current`` (or a fresh read) until a write is accepted.

    ``write`` must not check staleness itself (the raw ``set-user-profile-hash``). A write that may
    have landed (a timeout, a lost connection) is never re-sent: it raises, and calling again is
    safe, because every write is conditional on the hash it started from.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    last: CometError | None = None
    for _ in range(max_attempts):
        if current is None:
            current = await read()
        profile = current.profile
        if mutate(profile) is False:
            return UpdatedProfile(profile, current.hash, written=False)
        try:
            saved = await write(profile, current.hash)
        except CometHashConflict as conflict:
            last, current = conflict, None
            continue
        except CometError as refusal:
            if not is_lasting_refusal(refusal):
                raise
            fresh = await read()
            if fresh.hash == current.hash:
                raise refusal
            last, current = converted(CometHashConflict, refusal), fresh
            continue
        if saved is None:
            return UpdatedProfile(profile, None, written=True)
        return UpdatedProfile(saved.profile, saved.hash, written=True)
    assert last is not None
    raise CometHashConflict(
        last.server_id,
        last.endpoint,
        f"profile kept changing: gave up after {max_attempts} attempts",
        last.http_status,
        last.api_status,
    )
