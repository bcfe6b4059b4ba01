"""Request ids (AIP-155), one mechanism for every mutating method: one rule for what a request id
may be, one fingerprint of the request it names, one REQUEST_ID_REUSED error, one record per
(method, request id) written in the same transaction as the change it describes, and pruning on a
schedule.

A retry with the same id and the same request gets the first outcome; the same id with another
request is refused. Only successes are recorded, so a failed request simply runs again. What is
recorded is the serialized response, except where the response must not be kept (a CreateAccount
reply may carry a generated password): there the record holds the account id and the reply is
built afresh from the account.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
from collections.abc import Awaitable, Callable

from comet_provisioning.crypto import SecretBox

from .clock import Clock, SystemClock
from .errors import ErrorKind, FieldViolation, ServiceError
from .request_records import RequestIdTaken
from .unit_of_work import Store, UnitOfWork

__all__ = ["REQUEST_ID_MAX", "RequestIds"]

log = logging.getLogger("comet_provisioning.request_ids")

REQUEST_ID_MAX = 200
DEFAULT_RETENTION = dt.timedelta(days=30)

Work = Callable[[UnitOfWork], Awaitable[bytes]]


_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20]")


def _invalid(request_id: str) -> ServiceError | None:
    if len(request_id) > REQUEST_ID_MAX or _SPACE_OR_CONTROL.search(request_id):
        return ServiceError(
            ErrorKind.INVALID_ARGUMENT,
            "INVALID_REQUEST",
            f"request_id: at most {REQUEST_ID_MAX} printable characters without spaces",
            metadata={"fields": "request_id"},
            violations=[
                FieldViolation("request_id", f"at most {REQUEST_ID_MAX} printable characters without spaces")
            ],
        )
    return None


class RequestIds:
    def __init__(
        self,
        store: Store,
        box: SecretBox,
        *,
        retention: dt.timedelta = DEFAULT_RETENTION,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._box = box
        self.retention = retention
        self._clock = clock or SystemClock()

    @staticmethod
    def check(request_id: str) -> None:
        """INVALID_ARGUMENT naming `request_id` when it breaks the rule."""
        error = _invalid(request_id)
        if error is not None:
            raise error

    def fingerprint(self, method: str, request_bytes: bytes) -> str:
        """A keyed digest of the request (without its request id): comparable, revealing nothing."""
        return self._box.fingerprint(method.encode() + b"\x00" + request_bytes)

    @staticmethod
    def reused(method: str, request_id: str) -> ServiceError:
        return ServiceError(
            ErrorKind.INVALID_ARGUMENT,
            "REQUEST_ID_REUSED",
            f"request id {request_id!r} was already used for a different {method} request",
            metadata={"method": method, "request_id": request_id},
            violations=[FieldViolation("request_id", "already used for a different request")],
        )

    async def outcome(self, uow: UnitOfWork, method: str, request_id: str, fingerprint: str) -> bytes | None:
        """The recorded outcome of this request, None when there is none; REQUEST_ID_REUSED when
        the id recorded another request."""
        if not request_id:
            return None
        stored = await uow.request_records.lookup(method, request_id)
        if stored is None:
            return None
        if not hmac.compare_digest(stored.fingerprint, fingerprint):
            raise self.reused(method, request_id)
        return stored.response

    async def replay(self, method: str, request_id: str, fingerprint: str) -> bytes | None:
        if not request_id:
            return None
        async with self._store.read_one() as uow:
            return await self.outcome(uow, method, request_id, fingerprint)

    async def record(
        self, uow: UnitOfWork, method: str, request_id: str, fingerprint: str, response: bytes
    ) -> None:
        """In the caller's transaction; RequestIdTaken when a twin recorded it first."""
        if request_id:
            await uow.request_records.remember(method, request_id, fingerprint, response)

    async def remember(self, method: str, request_id: str, fingerprint: str, response: bytes) -> None:
        """In a transaction of its own, after work that made its own writes; a twin that
        recorded the same outcome first is the same fact."""
        if not request_id:
            return
        try:
            async with self._store.write() as uow:
                await uow.request_records.remember(method, request_id, fingerprint, response)
        except RequestIdTaken:
            pass

    async def once(
        self, method: str, request_id: str, fingerprint: str, work: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """For work that talks to Comet, so cannot hold a transaction open, and whose own writes
        are safe for a concurrent twin to repeat: a recorded outcome is replayed, otherwise
        `work` runs and its response is recorded (a twin's record, if first, is as valid)."""
        self.check(request_id)
        done = await self.replay(method, request_id, fingerprint)
        if done is not None:
            return done
        response = await work()
        await self.remember(method, request_id, fingerprint, response)
        return response

    async def run(self, method: str, request_id: str, fingerprint: str, work: Work) -> bytes:
        """`work`'s response, computed at most once per (method, request id), in one transaction
        with its record. When `work` fails because a concurrent twin of this very request
        committed first, the twin's outcome is returned instead of the failure."""
        self.check(request_id)
        try:
            async with self._store.write() as uow:
                done = await self.outcome(uow, method, request_id, fingerprint)
                if done is not None:
                    return done
                response = await work(uow)
                await self.record(uow, method, request_id, fingerprint, response)
                return response
        except ServiceError as err:
            if err.reason == "REQUEST_ID_REUSED":
                raise
            twin = await self.replay(method, request_id, fingerprint)
            if twin is None:
                raise
            return twin
        except RequestIdTaken:
            twin = await self.replay(method, request_id, fingerprint)
            assert twin is not None
            return twin

    async def prune(self) -> int:
        async with self._store.write() as uow:
            return await uow.request_records.prune(self._clock.now() - self.retention)

    async def prune_forever(self, interval_s: float) -> None:
        """At start-up and then every `interval_s`: outcomes past the retention are forgotten."""
        while True:
            try:
                pruned = await self.prune()
                if pruned:
                    log.info("forgot old request ids", extra={"request_ids": pruned})
            except Exception:
                log.exception("pruning request ids failed; trying again later")
            await self._clock.sleep(interval_s)
