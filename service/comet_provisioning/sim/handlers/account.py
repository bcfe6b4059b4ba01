"""Admin account and server identity endpoints: sessions, properties, version."""

from __future__ import annotations

from typing import Any

from ..messages import OK
from .base import CallContext, Handler

__all__ = ["HANDLERS"]


async def session_start(ctx: CallContext) -> Any:
    session = ctx.state.start_session("admin", ctx.admin.username)
    return {"Status": 200, "Message": OK, "SessionKey": session.key, "SessionType": "admin"}


async def session_start_as_user(ctx: CallContext) -> Any:
    record = ctx.target_user()
    session = ctx.state.start_session("user", record.username)
    return {"Status": 200, "Message": OK, "SessionKey": session.key, "SessionType": "user"}


async def account_properties(ctx: CallContext) -> Any:
    return {
        "OrganizationID": ctx.admin.organization_id,
        "Permissions": {
            "PreventEditServerSettings": False,
            "PreventServerShutdown": False,
            "PreventChangePassword": False,
            "AllowEditBranding": True,
            "AllowEditEmailOptions": True,
            "AllowEditRemoteStorage": True,
            "AllowEditExternalAuthSources": True,
        },
        "Security": {
            "PasswordFormat": 11,
            "AllowPasswordLogin": True,
            "AllowPasswordAndTOTPLogin": ctx.admin.totp_required,
            "AllowPasswordAndU2FLogin": False,
            "AllowPasswordAndWebAuthnLogin": False,
            "TOTPKeyEncryptionFormat": 0,
        },
    }


async def meta_version(ctx: CallContext) -> Any:
    """ServerMetaVersionInfo as the SDKs name it; every time is on the simulated server's clock."""
    state = ctx.state
    return {
        "Version": state.version.text,
        "VersionCodename": state.version.codename,
        "StorageRole": True,
        "AuthenticationRole": True,
        "SoftwareBuildRole": True,
        "OverseerRole": False,
        "ConstellationRole": False,
        "ExperimentalOptions": [],
        "ServerStartTime": state.server_start_time,
        "ServerStartHash": state.server_start_hash,
        "CurrentTime": state.now(),
        "ServerLicenseHash": "sim-license",
        "ServerLicenseFeaturesAll": True,
        "ServerLicenseFeatureSet": 0,
        "ServerLicenseLimit": {},
        "ConfiguredDevices": 0,
        "BoosterLimit": {},
        "LicenseValidUntil": 0,
        "EmailsSentSuccessfully": 0,
        "EmailsSentErrors": 0,
        "EmailsWaitingInQueue": 0,
        "ScheduledEmailThreadCurrentState": 0,
        "ScheduledEmailThreadLastCalculateDurationNanos": 0,
        "ScheduledEmailThreadWaitingUntil": 0,
        "ScheduledEmailThreadLastWakeTime": 0,
        "ScheduledEmailThreadLastWakeSentEmails": False,
        "SelfBackup": [],
        "Simulator": True,
    }


HANDLERS: dict[str, Handler] = {
    "account/session-start": session_start,
    "account/session-start-as-user": session_start_as_user,
    "account/properties": account_properties,
    "meta/version": meta_version,
}
