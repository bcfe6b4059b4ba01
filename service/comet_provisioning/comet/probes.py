"""Settling an ambiguous refusal from Comet's state, never from its wording (contract §6).

A 403 can mean bad admin credentials, a missing permission, or (Comet 20.9-22.3) an unknown
``TargetUser``; a 400 about a user can mean the user is unknown or something else is wrong. Two
read-only questions tell them apart: do the admin credentials work, and does the user exist?

The credentials question costs nothing when a call to this server succeeded in the last
``credentials_proof_s``; a failed answer is also remembered that long, so a burst of refusals
sends one extra login attempt at most (failed logins feed Comet's login protection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Final

from .classify import Probe, Verdict
from .errors import (
    CometApiError,
    CometAuthFailed,
    CometError,
    CometLockedOut,
    CometNotCometServer,
    CometUserNotFound,
    converted,
    not_sent,
)
from .exchange import Exchange, Exchanger

__all__ = ["Prober"]

FormFactory = Callable[[Mapping[str, str] | None], dict[str, str]]

GOOD: Final = None
"""``credentials()``: the admin credentials work."""


class Prober:
    """Runs the read-only checks for one client (``meta/version``, ``get-user-profile``)."""

    def __init__(
        self,
        exchanger: Exchanger,
        form: FormFactory,
        proof_s: float,
        on_meta_version: Callable[[Exchange], object],
    ) -> None:
        self._exchanger = exchanger
        self._form = form
        self._proof_s = proof_s
        self._on_meta_version = on_meta_version
        self._refused: tuple[float, type[CometError]] | None = None

    async def settle(
        self, verdict: Verdict, endpoint: str, target_user: str | None, deadline: float | None
    ) -> CometError:
        """The precise error for a refusal: its own class, or what the probes show it to be.

        When a probe cannot tell (it met a transient failure), that failure is returned, marked as
        not sent: the refusal it stands for changed nothing, so the call may be sent again.
        """
        error = verdict.error
        assert error is not None
        if verdict.probe is None:
            return error
        if verdict.probe is not Probe.USER:
            refusal = await self.credentials(deadline)
            if isinstance(refusal, CometAuthFailed | CometLockedOut):
                return converted(type(refusal), error)
            if refusal is not GOOD:
                return not_sent(refusal)  # could not tell; the refusal itself changed nothing
            if verdict.probe is Probe.CREDENTIALS:
                return error  # the credentials work: a missing permission
        if target_user is None:
            return error
        if endpoint == "get-user-profile":
            return converted(CometUserNotFound, error)  # the refusal itself answers the question
        exists = await self.user_exists(target_user, deadline)
        if isinstance(exists, CometError):
            return not_sent(exists)
        return error if exists else converted(CometUserNotFound, error)

    async def credentials(self, deadline: float | None) -> CometError | None:
        """``GOOD`` (None) when the admin credentials work, else the error that says why not."""
        now = asyncio.get_running_loop().time()
        if now - self._exchanger.last_success_at <= self._proof_s:
            return GOOD
        if self._refused is not None and now - self._refused[0] <= self._proof_s:
            cls = self._refused[1]
            return cls(self._exchanger.config.server_id, "meta/version", "admin credentials refused")
        try:
            exchange = await self._exchanger.exchange(
                "meta/version", self._form(None), deadline=deadline, attempt=1
            )
        except CometError as failure:
            return failure
        error = exchange.verdict.error
        if error is None:
            if not isinstance(exchange.body, dict) or "Version" not in exchange.body:
                return CometNotCometServer(
                    self._exchanger.config.server_id, "meta/version", "reply has no Version", 200
                )
            self._refused = None
            self._on_meta_version(exchange)
            return GOOD
        if isinstance(error, CometAuthFailed | CometLockedOut):
            self._refused = (asyncio.get_running_loop().time(), type(error))
        return error

    async def user_exists(self, username: str, deadline: float | None) -> bool | CometError:
        """Whether ``username`` exists, by ``get-user-profile``; the failure when it cannot tell.

        Asked only once the admin credentials are known to work, so a 400 or 403 means missing.
        """
        form = self._form({"TargetUser": username})
        try:
            exchange = await self._exchanger.exchange("get-user-profile", form, deadline=deadline, attempt=1)
        except CometError as failure:
            return failure
        error = exchange.verdict.error
        if error is None:
            return isinstance(exchange.body, dict)
        if isinstance(error, CometUserNotFound) or (
            type(error) is CometApiError and error.api_status in (400, 403) and not error.retryable
        ):
            return False
        return error
