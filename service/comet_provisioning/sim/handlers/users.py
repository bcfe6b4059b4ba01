"""User account endpoints: create, read, update (plain and hash-checked), re-password, delete, list."""

from __future__ import annotations

import re
from typing import Any

from ..messages import OK
from ..state import UserRecord
from .base import CallContext, CometError, Handler, ok, parse_bool

__all__ = ["HANDLERS", "MIN_PASSWORD_LENGTH", "profile_and_hash"]

MIN_PASSWORD_LENGTH = 8
_USERNAME_RE = re.compile(r"^[a-zA-Z0-9_.@-]+$")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CometError(400, f"Password must be at least {MIN_PASSWORD_LENGTH} characters")


async def add_user(ctx: CallContext) -> Any:
    username = ctx.param("TargetUser")
    password = ctx.param("TargetPassword")
    version = ctx.state.version
    if not _USERNAME_RE.match(username):
        raise CometError(400, "Invalid username: allowed characters are a-z A-Z 0-9 _ . @ -")
    if len(username) < version.min_username_length:
        raise CometError(400, f"Invalid username: must be at least {version.min_username_length} characters")
    if username in ctx.state.users:
        raise CometError(*ctx.behaviour.duplicate_user_reply())
    _check_password(password)
    ctx.state.create_user(
        username,
        password,
        store_recovery_code=parse_bool(ctx.form.get("StoreRecoveryCode")),
        require_password_change=version.supports_require_password_change
        and parse_bool(ctx.form.get("RequirePasswordChange")),
        organization_id=ctx.param("TargetOrganization") if version.supports_organizations else "",
    )
    return ok()


def profile_and_hash(ctx: CallContext, record: UserRecord) -> dict[str, Any]:
    """The reply shape of get-user-profile-and-hash (and of the hash writes from 25.6.8)."""
    return {"Status": 200, "Message": OK, "ProfileHash": record.profile_hash, "Profile": ctx.profile(record)}


async def get_user_profile(ctx: CallContext) -> Any:
    return ctx.profile(ctx.target_user())


async def get_user_profile_and_hash(ctx: CallContext) -> Any:
    return profile_and_hash(ctx, ctx.target_user())


async def set_user_profile_hash(ctx: CallContext) -> Any:
    record = ctx.target_user()
    submitted = ctx.json_object_param("ProfileData")
    assert submitted is not None
    required_hash = ctx.param("RequireHash")
    if ctx.sim.faults.take_hash_conflict():
        # Someone else "edited" the profile just before us: the stored hash moves on.
        record.touch()
        ctx.sim.counters.faults["hash_conflict"] += 1
    if required_hash != record.profile_hash:
        raise CometError(*ctx.behaviour.stale_hash_reply("profile"))
    ctx.state.replace_profile(record, submitted)
    if ctx.state.version.set_hash_returns_profile:
        return profile_and_hash(ctx, record)
    return ok()


async def set_user_profile(ctx: CallContext) -> Any:
    record = ctx.target_user()
    submitted = ctx.json_object_param("ProfileData")
    assert submitted is not None
    ctx.state.replace_profile(record, submitted)
    return ok()


async def reset_user_password(ctx: CallContext) -> Any:
    record = ctx.target_user()
    new_password = ctx.param("NewPassword")
    old_password = ctx.form.get("OldPassword")
    if record.recovery_code is None and not (old_password and old_password == record.password):
        raise CometError(400, "No password recovery code is stored for this account")
    _check_password(new_password)
    ctx.state.set_password(record, new_password)
    return ok()


async def delete_user(ctx: CallContext) -> Any:
    record = ctx.target_user()
    uninstall = None
    if ctx.state.version.supports_uninstall_config:
        uninstall = ctx.json_object_param("UninstallConfig", required=False)
    ctx.state.delete_user(record.username, uninstall)
    return ok()


async def list_users(ctx: CallContext) -> Any:
    return ctx.collection(list(ctx.state.users))


async def list_users_full(ctx: CallContext) -> Any:
    return ctx.collection({name: ctx.profile(record) for name, record in ctx.state.users.items()})


HANDLERS: dict[str, Handler] = {
    "add-user": add_user,
    "get-user-profile": get_user_profile,
    "get-user-profile-and-hash": get_user_profile_and_hash,
    "set-user-profile-hash": set_user_profile_hash,
    "set-user-profile": set_user_profile,
    "reset-user-password": reset_user_password,
    "delete-user": delete_user,
    "list-users": list_users,
    "list-users-full": list_users_full,
}
