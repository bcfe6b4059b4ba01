"""``CometClient``: every admin endpoint the project needs, as typed async methods."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

from .classify import ErrorHints, Probe, Verdict
from .config import CometServerConfig
from .download import ClientDownload, validate_platform
from .endpoints import READ_ONLY_ENDPOINTS
from .errors import (
    CometApiError,
    CometAuthFailed,
    CometError,
    CometHashConflict,
    CometLockedOut,
    CometNotCometServer,
    CometUserExists,
    CometUserNotFound,
)
from .models import JSONDict, MetaVersion, NewPolicyResult, PolicyAndHash, ProfileAndHash, SessionKey
from .observe import LOGGER, CallObserver, NullObserver
from .retry import deadline_after, retry_delay
from .transport import CometTransport

__all__ = ["CometClient", "FormValue", "ProfileMutator"]

FormValue: TypeAlias = str | int | bool | JSONDict | list[Any] | None
"""A request parameter: bools become ``1``/``0``, dicts and lists JSON text, ``None`` is left out."""

ProfileMutator: TypeAlias = Callable[[JSONDict], bool | None]
"""Edits a profile in place; returns False when nothing needed changing (the write is skipped)."""


def _encode(value: str | int | bool | JSONDict | list[Any]) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class CometClient:
    """The admin API of one Comet Server, over one pooled, observed ``aiohttp`` session.

    Read-only calls are retried on transient failures; mutating calls are re-sent only when the
    request provably never reached the server. Every method takes ``timeout_s``: an overall budget
    (retries and backoff included) that no attempt or sleep ever exceeds.
    """

    def __init__(
        self,
        config: CometServerConfig,
        *,
        observer: CallObserver | None = None,
        hints: ErrorHints | None = None,
    ) -> None:
        self.config = config
        self._transport = CometTransport(config, observer or NullObserver(), hints or ErrorHints())

    @property
    def server_id(self) -> str:
        return self.config.server_id

    @property
    def closed(self) -> bool:
        return self._transport.closed

    async def aclose(self, grace_s: float = 0.0) -> None:
        """Close the connection pool (after letting running calls finish for up to ``grace_s``)."""
        await self._transport.aclose(grace_s)

    async def __aenter__(self) -> CometClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # -- plumbing ---------------------------------------------------------------------------------

    def _form(self, params: Mapping[str, FormValue] | None = None) -> dict[str, str]:
        form = {"Username": self.config.username, "AuthType": "Password", "Password": self.config.password}
        for key, value in (params or {}).items():
            if value is not None:
                form[key] = _encode(value)
        return form

    def _retry_delay(
        self, error: CometError, endpoint: str, attempt: int, deadline: float | None
    ) -> float | None:
        return retry_delay(
            error,
            read_only=endpoint in READ_ONLY_ENDPOINTS,
            attempt=attempt,
            max_retries=self.config.max_retries,
            base_s=self.config.retry_backoff_base_s,
            cap_s=self.config.retry_backoff_max_s,
            deadline=deadline,
        )

    async def _call(
        self,
        endpoint: str,
        params: Mapping[str, FormValue] | None = None,
        *,
        timeout_s: float | None = None,
        deadline: float | None = None,
        target_user: str | None = None,
    ) -> Any:
        """Send one admin call (retrying when safe) and return the decoded body of a success."""
        if deadline is None:
            deadline = deadline_after(timeout_s)
        form = self._form(params)
        attempt = 0
        while True:
            attempt += 1
            try:
                exchange = await self._transport.exchange(endpoint, form, deadline=deadline, attempt=attempt)
                if exchange.verdict.error is None:
                    return exchange.body
                raise await self._settle(exchange.verdict, endpoint, target_user, deadline)
            except CometError as error:
                delay = self._retry_delay(error, endpoint, attempt, deadline)
                if delay is None:
                    raise
                LOGGER.debug(
                    "comet %s %s: %s; retrying in %.3fs", self.server_id, endpoint, error.kind, delay
                )
                await asyncio.sleep(delay)

    async def _settle(
        self, verdict: Verdict, endpoint: str, target_user: str | None, deadline: float | None
    ) -> CometError:
        """Turn an ambiguous refusal into a precise error by read-only checks (never by wording)."""
        error = verdict.error
        assert error is not None
        if verdict.probe is None:
            return error
        if verdict.probe in (Probe.CREDENTIALS, Probe.USER_AFTER_CREDENTIALS):
            credentials = await self._probe_credentials(deadline)
            if isinstance(credentials, type):
                return _convert(credentials, error)
            if credentials is not True or verdict.probe is Probe.CREDENTIALS:
                return error
        if target_user is None:
            return error
        exists = await self._probe_user(target_user, deadline)
        if endpoint == "add-user":
            return _convert(CometUserExists, error) if exists else error
        return _convert(CometUserNotFound, error) if exists is False else error

    async def _probe_credentials(self, deadline: float | None) -> type[CometError] | bool | None:
        """True: the admin credentials work; an error class: they do not; None: could not tell."""
        try:
            exchange = await self._transport.exchange(
                "meta/version", self._form(), deadline=deadline, attempt=1
            )
        except CometError:
            return None
        error = exchange.verdict.error
        if error is None:
            return (isinstance(exchange.body, dict) and "Version" in exchange.body) or None
        if isinstance(error, CometAuthFailed | CometLockedOut):
            return type(error)
        return None

    async def _probe_user(self, username: str, deadline: float | None) -> bool | None:
        """Whether ``username`` exists, by a read-only ``get-user-profile``; None when unsure.

        Only called once the admin credentials are known to work, so a 400 or 403 here means the
        user is missing (Comet 20.9-22.3 said 403 for that).
        """
        try:
            exchange = await self._transport.exchange(
                "get-user-profile", self._form({"TargetUser": username}), deadline=deadline, attempt=1
            )
        except CometError:
            return None
        error = exchange.verdict.error
        if error is None:
            return isinstance(exchange.body, dict)
        if isinstance(error, CometUserNotFound) or (
            isinstance(error, CometApiError) and error.api_status in (400, 403)
        ):
            return False
        return None

    def _as_dict(self, body: Any, endpoint: str) -> JSONDict:
        """The reply as a JSON object; any other shape means whoever answered is not Comet."""
        if not isinstance(body, dict):
            raise CometNotCometServer(self.server_id, endpoint, "expected a JSON object", 200)
        return body

    def _as_list(self, body: Any, endpoint: str) -> list[Any]:
        """The reply as a JSON list (``null`` counts as empty, as Go encodes an empty slice)."""
        if body is None:
            return []
        if not isinstance(body, list):
            raise CometNotCometServer(self.server_id, endpoint, "expected a JSON list", 200)
        return body

    # -- server -----------------------------------------------------------------------------------

    async def meta_version(self, *, timeout_s: float | None = None) -> MetaVersion:
        """The connection test: a reply with ``Version`` means reachable, Comet, and authenticated."""
        body = await self._call("meta/version", timeout_s=timeout_s)
        version = body.get("Version") if isinstance(body, dict) else None
        if not isinstance(version, str) or not version:
            raise CometNotCometServer(self.server_id, "meta/version", "reply has no Version", 200)
        return MetaVersion(version=version, raw=body)

    async def account_properties(self, *, timeout_s: float | None = None) -> JSONDict:
        """What this admin account may do (``OrganizationID``, ``Permissions``, ``Security``)."""
        return self._as_dict(
            await self._call("account/properties", timeout_s=timeout_s), "account/properties"
        )

    # -- users ------------------------------------------------------------------------------------

    async def add_user(
        self,
        username: str,
        password: str,
        *,
        require_password_change: bool = False,
        organization_id: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """Create a user, always with ``StoreRecoveryCode=1`` so an admin can reset its password later.

        Not idempotent: never re-sent once it may have reached the server. A refusal because the name
        is taken raises ``CometUserExists``: recognised by the configured message code, or else
        confirmed by a read-only ``get-user-profile`` (the user may belong to someone else; deciding
        whether it is "ours" is the caller's job).
        """
        await self._call(
            "add-user",
            {
                "TargetUser": username,
                "TargetPassword": password,
                "StoreRecoveryCode": True,
                "RequirePasswordChange": require_password_change,
                "TargetOrganization": organization_id,
            },
            timeout_s=timeout_s,
            target_user=username,
        )

    async def get_user_profile(self, username: str, *, timeout_s: float | None = None) -> JSONDict:
        """The full profile as a JSON dict; ``CometUserNotFound`` when there is no such user."""
        body = await self._call(
            "get-user-profile", {"TargetUser": username}, timeout_s=timeout_s, target_user=username
        )
        return self._as_dict(body, "get-user-profile")

    async def get_user_profile_and_hash(
        self, username: str, *, timeout_s: float | None = None, deadline: float | None = None
    ) -> ProfileAndHash:
        """The read half of an atomic profile update."""
        body = self._as_dict(
            await self._call(
                "get-user-profile-and-hash",
                {"TargetUser": username},
                timeout_s=timeout_s,
                deadline=deadline,
                target_user=username,
            ),
            "get-user-profile-and-hash",
        )
        profile, profile_hash = body.get("Profile"), body.get("ProfileHash")
        if not isinstance(profile, dict) or not isinstance(profile_hash, str):
            raise CometNotCometServer(
                self.server_id, "get-user-profile-and-hash", "reply lacks Profile or ProfileHash", 200
            )
        return ProfileAndHash(profile=profile, hash=profile_hash)

    async def set_user_profile_hash(
        self,
        username: str,
        profile: JSONDict,
        require_hash: str,
        *,
        timeout_s: float | None = None,
        deadline: float | None = None,
    ) -> str | None:
        """Write a profile only if it still has ``require_hash``; ``CometHashConflict`` when stale.

        Returns the new hash when the server sends one (Comet ≥ 25.6.8), else None.
        """
        body = await self._call(
            "set-user-profile-hash",
            {"TargetUser": username, "ProfileData": profile, "RequireHash": require_hash},
            timeout_s=timeout_s,
            deadline=deadline,
            target_user=username,
        )
        new_hash = body.get("ProfileHash") if isinstance(body, dict) else None
        return new_hash if isinstance(new_hash, str) and new_hash else None

    async def set_user_profile(
        self, username: str, profile: JSONDict, *, timeout_s: float | None = None
    ) -> None:
        """Replace the whole profile unconditionally. Prefer ``update_user_profile``."""
        await self._call(
            "set-user-profile",
            {"TargetUser": username, "ProfileData": profile},
            timeout_s=timeout_s,
            target_user=username,
        )

    async def update_user_profile(
        self,
        username: str,
        mutate: ProfileMutator,
        *,
        max_attempts: int = 5,
        timeout_s: float | None = None,
    ) -> JSONDict:
        """Read-modify-write a profile with optimistic concurrency; returns the saved profile.

        ``mutate`` edits the freshly read dict in place (keys it does not touch are written back as
        read) and returns False when nothing needs changing. On a stale hash the profile is re-read
        and ``mutate`` re-applied, up to ``max_attempts`` times, then ``CometHashConflict`` is raised.
        A write that fails otherwise (e.g. a timeout) is not re-sent: calling again is safe, because
        every write is conditional on the hash it read.
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        deadline = deadline_after(timeout_s)
        last: CometHashConflict | None = None
        for _ in range(max_attempts):
            current = await self.get_user_profile_and_hash(username, deadline=deadline)
            profile = current.profile
            if mutate(profile) is False:
                return profile
            try:
                await self.set_user_profile_hash(username, profile, current.hash, deadline=deadline)
            except CometHashConflict as conflict:
                last = conflict
                continue
            return profile
        assert last is not None
        raise CometHashConflict(
            self.server_id,
            "set-user-profile-hash",
            f"profile kept changing: gave up after {max_attempts} attempts",
            last.http_status,
            last.api_status,
        )

    async def reset_user_password(
        self,
        username: str,
        new_password: str,
        old_password: str | None = None,
        *,
        timeout_s: float | None = None,
    ) -> None:
        """Set a user's password (needs the recovery code stored at creation; Comet minimum is 8)."""
        await self._call(
            "reset-user-password",
            {"TargetUser": username, "NewPassword": new_password, "OldPassword": old_password},
            timeout_s=timeout_s,
            target_user=username,
        )

    async def delete_user(
        self,
        username: str,
        *,
        uninstall: bool = False,
        remove_config: bool = False,
        timeout_s: float | None = None,
    ) -> None:
        """Delete a user; with ``uninstall`` its clients are told to uninstall (≥ 20.3.5).

        A second delete of the same user raises ``CometUserNotFound``.
        """
        uninstall_config: JSONDict | None = None
        if uninstall:
            uninstall_config = {"UninstallFlag": True, "RemoveConfigFile": remove_config}
        await self._call(
            "delete-user",
            {"TargetUser": username, "UninstallConfig": uninstall_config},
            timeout_s=timeout_s,
            target_user=username,
        )

    async def list_users(self, *, timeout_s: float | None = None) -> list[str]:
        """Every username on the server."""
        body = await self._call("list-users", timeout_s=timeout_s)
        return [str(name) for name in self._as_list(body, "list-users")]

    async def list_users_full(self, *, timeout_s: float | None = None) -> dict[str, JSONDict]:
        """Every profile on the server in one call (for usage reporting)."""
        return self._as_dict(await self._call("list-users-full", timeout_s=timeout_s), "list-users-full")

    # -- policies and storage ---------------------------------------------------------------------

    async def list_policies(
        self, organization_id: str | None = None, *, timeout_s: float | None = None
    ) -> dict[str, str]:
        """Policy id → description."""
        body = await self._call("policies/list", {"TargetOrganization": organization_id}, timeout_s=timeout_s)
        return {str(k): str(v) for k, v in self._as_dict(body, "policies/list").items()}

    async def get_policy(self, policy_id: str, *, timeout_s: float | None = None) -> PolicyAndHash | None:
        """The policy and its hash, or None when there is no such policy (empty ``PolicyHash``)."""
        body = self._as_dict(
            await self._call("policies/get", {"PolicyID": policy_id}, timeout_s=timeout_s), "policies/get"
        )
        policy_hash, policy = body.get("PolicyHash"), body.get("Policy")
        if not isinstance(policy_hash, str) or not policy_hash:
            return None
        return PolicyAndHash(policy=policy if isinstance(policy, dict) else {}, hash=policy_hash)

    async def set_policy(
        self,
        policy_id: str,
        policy: JSONDict,
        check_hash: str | None = None,
        *,
        timeout_s: float | None = None,
    ) -> None:
        """Create or replace a policy under our own id; with ``check_hash`` only if unchanged."""
        await self._call(
            "policies/set",
            {"PolicyID": policy_id, "Policy": policy, "CheckPolicyHash": check_hash},
            timeout_s=timeout_s,
        )

    async def new_policy(self, policy: JSONDict, *, timeout_s: float | None = None) -> NewPolicyResult:
        """Create a policy under a server-chosen id. Prefer ``set_policy`` with an id of your own."""
        body = await self._call("policies/new", {"Policy": policy}, timeout_s=timeout_s)
        body = body if isinstance(body, dict) else {}
        policy_hash, policy_id = body.get("PolicyHash"), body.get("PolicyID")
        return NewPolicyResult(
            policy_hash=policy_hash if isinstance(policy_hash, str) and policy_hash else None,
            policy_id=policy_id if isinstance(policy_id, str) and policy_id else None,
        )

    async def list_storage_providers(
        self, organization_id: str | None = None, *, timeout_s: float | None = None
    ) -> dict[str, str]:
        """Storage template id → description."""
        body = await self._call(
            "request-storage-vault-providers", {"TargetOrganization": organization_id}, timeout_s=timeout_s
        )
        return {str(k): str(v) for k, v in self._as_dict(body, "request-storage-vault-providers").items()}

    async def request_storage_vault(
        self,
        username: str,
        provider_id: str,
        self_address: str | None = None,
        *,
        timeout_s: float | None = None,
    ) -> str:
        """Add a vault from a storage template to a user; returns its DestinationID.

        Adds another vault on *every* call, so it is never re-sent once it may have reached Comet.
        """
        body = self._as_dict(
            await self._call(
                "request-storage-vault",
                {"TargetUser": username, "StorageProvider": provider_id, "SelfAddress": self_address},
                timeout_s=timeout_s,
                target_user=username,
            ),
            "request-storage-vault",
        )
        destination = body.get("DestinationID")
        if not isinstance(destination, str) or not destination:
            raise CometNotCometServer(
                self.server_id, "request-storage-vault", "reply has no DestinationID", 200
            )
        return destination

    # -- devices and jobs -------------------------------------------------------------------------

    async def list_active_connections(
        self, username_filter: str | None = None, *, timeout_s: float | None = None
    ) -> dict[str, JSONDict]:
        """Live device connections: connection id → details (``UserNameFilter`` needs ≥ 22.6.7)."""
        body = await self._call(
            "dispatcher/list-active", {"UserNameFilter": username_filter}, timeout_s=timeout_s
        )
        return self._as_dict(body, "dispatcher/list-active")

    async def refetch_profile(self, connection_id: str, *, timeout_s: float | None = None) -> None:
        """Ask a live client to reload its profile."""
        await self._call("dispatcher/refetch-profile", {"TargetID": connection_id}, timeout_s=timeout_s)

    async def revoke_device(self, username: str, device_id: str, *, timeout_s: float | None = None) -> None:
        """Remove a device's registration from a user."""
        await self._call(
            "revoke-device",
            {"TargetUser": username, "TargetDevice": device_id},
            timeout_s=timeout_s,
            target_user=username,
        )

    async def get_jobs_for_user(self, username: str, *, timeout_s: float | None = None) -> list[JSONDict]:
        """All job records of a user (unordered)."""
        body = await self._call(
            "get-jobs-for-user", {"TargetUser": username}, timeout_s=timeout_s, target_user=username
        )
        return [job for job in self._as_list(body, "get-jobs-for-user") if isinstance(job, dict)]

    async def get_jobs_for_custom_search(
        self, query: JSONDict, *, timeout_s: float | None = None
    ) -> list[JSONDict]:
        """Job records matching a search clause (e.g. one user's jobs since a time)."""
        body = await self._call("get-jobs-for-custom-search", {"Query": query}, timeout_s=timeout_s)
        return [job for job in self._as_list(body, "get-jobs-for-custom-search") if isinstance(job, dict)]

    # -- sign-on and downloads --------------------------------------------------------------------

    async def start_admin_session(
        self, self_address: str | None = None, *, timeout_s: float | None = None
    ) -> SessionKey:
        """An admin web-interface session (single sign-on)."""
        body = await self._call("account/session-start", {"SelfAddress": self_address}, timeout_s=timeout_s)
        return self._session_key(body, "account/session-start")

    async def start_user_session(self, username: str, *, timeout_s: float | None = None) -> SessionKey:
        """An end-user session (single sign-on into the user's web interface)."""
        body = await self._call(
            "account/session-start-as-user",
            {"TargetUser": username},
            timeout_s=timeout_s,
            target_user=username,
        )
        return self._session_key(body, "account/session-start-as-user")

    def _session_key(self, body: Any, endpoint: str) -> SessionKey:
        body = body if isinstance(body, dict) else {}
        key, kind = body.get("SessionKey"), body.get("SessionType")
        if not isinstance(key, str) or not key:
            raise CometNotCometServer(self.server_id, endpoint, "reply has no SessionKey", 200)
        return SessionKey(key=key, type=kind if isinstance(kind, str) else "")

    @asynccontextmanager
    async def download_client(
        self, platform: str, self_address: str | None = None, *, timeout_s: float | None = None
    ) -> AsyncIterator[ClientDownload]:
        """Stream a client installer: ``async with client.download_client("linuxgeneric") as dl``.

        Failures before the first byte are retried like any read-only call; once streaming, nothing
        is retried. Leaving the block early (or being cancelled) closes the upstream response.
        """
        endpoint = f"branding/generate-client/{validate_platform(platform)}"
        deadline = deadline_after(timeout_s)
        form = self._form({"SelfAddress": self_address})
        transport = self._transport
        attempt = 0
        while True:
            attempt += 1
            try:
                response, timing = await transport.open_stream(
                    endpoint, form, deadline=deadline, attempt=attempt
                )
                break
            except CometError as error:
                delay = retry_delay(
                    error,
                    read_only=True,
                    attempt=attempt,
                    max_retries=self.config.max_retries,
                    base_s=self.config.retry_backoff_base_s,
                    cap_s=self.config.retry_backoff_max_s,
                    deadline=deadline,
                )
                if delay is None:
                    raise
                await asyncio.sleep(delay)
        failure: list[CometError] = []
        download = ClientDownload(
            response, server_id=self.server_id, endpoint=endpoint, platform=platform, on_error=failure.append
        )
        outcome = "cancelled"
        with transport.in_flight():
            try:
                yield download
                outcome = "ok" if download.complete else "abandoned"
            except CometError as error:
                outcome = error.kind
                raise
            except BaseException:
                outcome = failure[0].kind if failure else "cancelled"
                raise
            finally:
                if download.complete:
                    response.release()
                else:
                    response.close()
                transport.record(endpoint, timing, outcome, response.status, None, attempt, form)


def _convert(cls: type[CometError], error: CometError) -> CometError:
    return cls(error.server_id, error.endpoint, error.message, error.http_status, error.api_status)
