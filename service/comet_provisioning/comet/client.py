"""``CometClient``: every admin endpoint the project needs, as typed async methods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .base import ClientBase, FormValue
from .download import ClientDownload, validate_platform
from .errors import (
    CometApiError,
    CometAuthFailed,
    CometError,
    CometHashConflict,
    CometLockedOut,
    CometNotCometServer,
    converted,
)
from .exchange import Exchange
from .models import (
    JSONDict,
    MetaVersion,
    NewPolicyResult,
    PolicyAndHash,
    ProfileAndHash,
    RequestedVault,
    SessionKey,
    UpdatedProfile,
)
from .observe import LOGGER
from .profile_update import ProfileMutator, is_lasting_refusal, update_profile
from .retry import deadline_after

__all__ = ["CometClient", "FormValue", "ProfileMutator"]


def _profile_and_hash(body: Any) -> ProfileAndHash | None:
    """The ``{Profile, ProfileHash}`` a write's reply carries from Comet 25.6.8 on, if it does."""
    if not isinstance(body, dict):
        return None
    profile, profile_hash = body.get("Profile"), body.get("ProfileHash")
    if isinstance(profile, dict) and isinstance(profile_hash, str) and profile_hash:
        return ProfileAndHash(profile=profile, hash=profile_hash)
    return None


def _policy_absent(error: CometError) -> bool:
    """Comet answered ``policies/get`` without a policy, and not because of who asked or a passing fault.

    Servers answer an unknown id with 200 and an empty hash, or an error ``Status`` (400 or 500) in
    any wording; an authentication failure, a lockout and anything transient (retryable, or not
    Comet's reply) still raise.
    """
    if isinstance(error, CometAuthFailed | CometLockedOut | CometNotCometServer):
        return False
    return isinstance(error, CometApiError) and not error.retryable


class CometClient(ClientBase):
    """The admin API of one Comet Server (see ``ClientBase`` for retries, probes and server info).

    ``CometClient(config, transport=..., observer=..., hints=..., on_server_info=...)``: the
    transport defaults to a pooled ``aiohttp`` session; ``on_server_info`` hears every (re)learned
    ``ServerInfo``. Parameters that only some releases accept are sent only to those releases.
    """

    async def __aenter__(self) -> CometClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # -- server -----------------------------------------------------------------------------------

    async def meta_version(self, *, timeout_s: float | None = None) -> MetaVersion:
        """The connection test: a reply with ``Version`` means reachable, Comet, and authenticated.

        Also (re)learns the server info from the reply.
        """
        meta, _ = await self._meta_version(deadline_after(timeout_s))
        return meta

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

        ``RequirePasswordChange`` is sent from Comet 20.3.4 and ``TargetOrganization`` from 22.3.7
        (older servers have no organisations); asking for either first learns the server's version.
        Not idempotent: never re-sent once it may have reached the server. A refusal is a
        ``CometApiError`` (``reached_server`` True, both statuses kept); ``CometUserExists`` is only a
        hint from a configured message code: whether the name is taken, and by whom, is for the
        caller to read from Comet's state.
        """
        deadline = deadline_after(timeout_s)
        params: dict[str, FormValue] = {
            "TargetUser": username,
            "TargetPassword": password,
            "StoreRecoveryCode": True,
        }
        if require_password_change or organization_id:
            version = await self._version_before_write(deadline)
            if require_password_change:
                self._gated(params, "RequirePasswordChange", True, version.require_password_change)
            if organization_id:
                self._gated(params, "TargetOrganization", organization_id, version.organizations)
        await self._call("add-user", params, deadline=deadline, target_user=username)

    def _gated(self, params: dict[str, FormValue], name: str, value: FormValue, supported: bool) -> None:
        if supported:
            params[name] = value
        else:
            LOGGER.warning("comet %s: %s is not supported by this version; not sent", self.server_id, name)

    async def get_user_profile(self, username: str, *, timeout_s: float | None = None) -> JSONDict:
        """The full profile as a JSON dict; ``CometUserNotFound`` when there is no such user."""
        body = await self._call(
            "get-user-profile", {"TargetUser": username}, timeout_s=timeout_s, target_user=username
        )
        return self._as_dict(body, "get-user-profile")

    async def get_user_profile_and_hash(
        self, username: str, *, timeout_s: float | None = None, deadline: float | None = None
    ) -> ProfileAndHash:
        """The read half of an atomic update."""
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
        read = _profile_and_hash(body)
        if read is None:
            raise CometNotCometServer(
                self.server_id, "get-user-profile-and-hash", "reply lacks Profile or ProfileHash", 200
            )
        return read

    async def _hash_moved(self, username: str, sent_hash: str, deadline: float | None) -> bool:
        """Whether the profile's hash is no longer ``sent_hash`` (False when that cannot be read)."""
        try:
            read = await self.get_user_profile_and_hash(username, deadline=deadline)
        except CometError:
            return False
        return read.hash != sent_hash

    async def _write_profile_hash(
        self, username: str, profile: JSONDict, require_hash: str, deadline: float | None
    ) -> ProfileAndHash | None:
        body = await self._call(
            "set-user-profile-hash",
            {"TargetUser": username, "ProfileData": profile, "RequireHash": require_hash},
            deadline=deadline,
            target_user=username,
        )
        saved = _profile_and_hash(body)
        self._server.check_write_reply("set-user-profile-hash", saved is not None)
        return saved

    async def set_user_profile_hash(
        self,
        username: str,
        profile: JSONDict,
        require_hash: str,
        *,
        timeout_s: float | None = None,
        deadline: float | None = None,
    ) -> ProfileAndHash | None:
        """Write a profile only if it still has ``require_hash``; ``CometHashConflict`` when stale.

        Returns the new profile and hash when the server sends them (Comet ≥ 25.6.8), else None.
        Stale is recognised by the configured code, or by the hash having moved when the write was
        refused for any other lasting reason.
        """
        if deadline is None:
            deadline = deadline_after(timeout_s)
        try:
            return await self._write_profile_hash(username, profile, require_hash, deadline)
        except CometError as refusal:
            if is_lasting_refusal(refusal) and await self._hash_moved(username, require_hash, deadline):
                raise converted(CometHashConflict, refusal) from refusal
            raise

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
        current: ProfileAndHash | None = None,
        max_attempts: int = 5,
        timeout_s: float | None = None,
    ) -> UpdatedProfile:
        """Read-modify-write a profile with optimistic concurrency.

        ``mutate`` edits the profile in place (keys it does not touch are written back as read) and
        returns False when nothing needs changing. It starts from ``current`` when given (a profile
        and hash the caller holds, e.g. from the reply of its previous write: one read saved; its
        profile is edited in place), else from a read. On a stale hash the profile is read again
        and ``mutate`` re-applied, up to ``max_attempts`` writes, then ``CometHashConflict``. A write
        that may have landed (e.g. a timeout) is not re-sent: calling again is safe, because every
        write is conditional on the hash it started from.
        """
        deadline = deadline_after(timeout_s)

        async def read() -> ProfileAndHash:
            return await self.get_user_profile_and_hash(username, deadline=deadline)

        async def write(profile: JSONDict, require_hash: str) -> ProfileAndHash | None:
            return await self._write_profile_hash(username, profile, require_hash, deadline)

        return await update_profile(read, write, mutate, current=current, max_attempts=max_attempts)

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
        """Delete a user; with ``uninstall`` its clients are told to uninstall (sent from 20.3.5 on,
        which first learns the server's version). A second delete raises ``CometUserNotFound``."""
        deadline = deadline_after(timeout_s)
        params: dict[str, FormValue] = {"TargetUser": username}
        if uninstall:
            version = await self._version_before_write(deadline)
            config = {"UninstallFlag": True, "RemoveConfigFile": remove_config}
            self._gated(params, "UninstallConfig", config, version.uninstall_config)
        await self._call("delete-user", params, deadline=deadline, target_user=username)

    async def list_users(self, *, timeout_s: float | None = None) -> list[str]:
        """Every username on the server."""
        body = await self._call("list-users", timeout_s=timeout_s)
        return [str(name) for name in self._as_list(body, "list-users")]

    async def list_users_full(self, *, timeout_s: float | None = None) -> dict[str, JSONDict]:
        """Every profile on the server in one call (for usage reporting)."""
        return self._as_map(await self._call("list-users-full", timeout_s=timeout_s), "list-users-full")

    # -- policies and storage ---------------------------------------------------------------------

    async def list_policies(
        self, organization_id: str | None = None, *, timeout_s: float | None = None
    ) -> dict[str, str]:
        """Policy id → description."""
        body = await self._call("policies/list", {"TargetOrganization": organization_id}, timeout_s=timeout_s)
        return {str(k): str(v) for k, v in self._as_map(body, "policies/list").items()}

    async def list_policies_full(
        self, organization_id: str | None = None, *, timeout_s: float | None = None
    ) -> dict[str, JSONDict]:
        """Policy id → group policy (``{Description, OrganizationID, Policy, DefaultUserPolicy}``)."""
        body = await self._call(
            "policies/list-full", {"TargetOrganization": organization_id}, timeout_s=timeout_s
        )
        return {str(k): v for k, v in self._as_map(body, "policies/list-full").items() if isinstance(v, dict)}

    async def get_policy(self, policy_id: str, *, timeout_s: float | None = None) -> PolicyAndHash | None:
        """The policy and its hash, or None for any reply without a ``PolicyHash``, whatever its status
        or wording (servers differ), unless the credentials, a lockout or a passing fault is to blame."""
        try:
            body = await self._call("policies/get", {"PolicyID": policy_id}, timeout_s=timeout_s)
        except CometError as error:
            if _policy_absent(error):
                return None
            raise
        body = body if isinstance(body, dict) else {}
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
        return {str(k): str(v) for k, v in self._as_map(body, "request-storage-vault-providers").items()}

    async def request_storage_vault(
        self,
        username: str,
        provider_id: str,
        *,
        profile_hash: str | None = None,
        self_address: str | None = None,
        timeout_s: float | None = None,
    ) -> RequestedVault:
        """Add a vault from a storage template to a user.

        Adds another vault on *every* call, so it is never re-sent once it may have reached Comet.
        With ``profile_hash`` (Comet ≥ 25.6.8) the request is conditional: if the profile changed
        since that hash was read, nothing is added and ``CometHashConflict`` is raised; older servers
        ignore it (their reply then carries no profile: ``RequestedVault.profile_hash`` is None). From
        25.6.8 the reply carries the profile and hash after the vault was added, for a write without
        a read.
        """
        deadline = deadline_after(timeout_s)
        params: dict[str, FormValue] = {
            "TargetUser": username,
            "StorageProvider": provider_id,
            "SelfAddress": self_address,
            "ProfileHash": profile_hash,
        }
        try:
            body = await self._call("request-storage-vault", params, deadline=deadline, target_user=username)
        except CometError as refusal:
            if (
                profile_hash is not None
                and is_lasting_refusal(refusal)
                and await self._hash_moved(username, profile_hash, deadline)
            ):
                raise converted(CometHashConflict, refusal) from refusal
            raise
        body = self._as_dict(body, "request-storage-vault")
        destination = body.get("DestinationID")
        if not isinstance(destination, str) or not destination:
            raise CometNotCometServer(
                self.server_id, "request-storage-vault", "reply has no DestinationID", 200
            )
        saved = _profile_and_hash(body)
        self._server.check_write_reply("request-storage-vault", saved is not None)
        if saved is None:
            return RequestedVault(destination, None, None)
        return RequestedVault(destination, saved.profile, saved.hash)

    # -- devices and jobs -------------------------------------------------------------------------

    async def list_active_connections(
        self, username_filter: str | None = None, *, timeout_s: float | None = None
    ) -> dict[str, JSONDict]:
        """Live device connections: connection id → details; with ``username_filter`` only that user's.

        The server filters from 22.6.7 (``UserNameFilter``, which first learns the version); the
        reply is filtered by ``Username`` here in any case.
        """
        deadline = deadline_after(timeout_s)
        params: dict[str, FormValue] = {}
        if username_filter is not None:
            info = await self.ensure_server_info(deadline=deadline)
            if info.version.username_filter:
                params["UserNameFilter"] = username_filter
        body = await self._call("dispatcher/list-active", params, deadline=deadline)
        connections = self._as_map(body, "dispatcher/list-active")
        if username_filter is None:
            return connections
        return {
            key: value
            for key, value in connections.items()
            if isinstance(value, dict) and value.get("Username") == username_filter
        }

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
        exchanger = self._exchanger
        attempt = 0
        while True:
            attempt += 1
            try:
                opened = await exchanger.open_stream(endpoint, form, deadline=deadline, attempt=attempt)
                if not isinstance(opened, Exchange):
                    break
                raise await self._prober.settle(opened.verdict, endpoint, None, deadline)
            except CometError as error:
                delay = self._retry_delay(error, True, attempt, deadline)
                if delay is None:
                    raise
                await asyncio.sleep(delay)
        stream, timing = opened.stream, opened.timing
        failure: list[CometError] = []
        download = ClientDownload(
            stream, server_id=self.server_id, endpoint=endpoint, platform=platform, on_error=failure.append
        )
        outcome = "cancelled"
        with exchanger.in_flight():
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
                    stream.release()
                else:
                    stream.close()
                exchanger.record(endpoint, timing, outcome, stream.status, None, attempt, form)
