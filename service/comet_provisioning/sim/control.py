"""The private control API under `/__sim__/`, for tests and load generators in another process.

No authentication: the simulator is a test tool bound to loopback. Nothing here is counted or
subject to faults, so observing the simulator never changes what it observes.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .behaviour import resolve_behaviour
from .context import SIM_KEY, SimContext
from .counters import CountersReset
from .state import SimState

__all__ = ["CONTROL_PREFIX", "add_routes", "apply_seed", "state_snapshot"]

CONTROL_PREFIX = "/__sim__"


def _sim(request: web.Request) -> SimContext:
    return request.app[SIM_KEY]


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


def state_snapshot(state: SimState, *, profiles: bool = True) -> dict[str, Any]:
    """A JSON view of the server data (profiles optional: large servers make large replies)."""
    users: dict[str, Any] = {}
    for name, rec in state.users.items():
        entry: dict[str, Any] = {
            "ProfileHash": rec.profile_hash,
            "Password": rec.password,
            "HasRecoveryCode": rec.recovery_code is not None,
        }
        if profiles:
            entry["Profile"] = state.render_profile(rec)
        users[name] = entry
    return {
        "Version": state.version.text,
        "UserCount": len(state.users),
        "Users": users,
        "Policies": {
            pid: {"Policy": p.group_policy, "PolicyHash": p.policy_hash} for pid, p in state.policies.items()
        },
        "Providers": state.providers,
        "Connections": state.connections,
        "JobCount": len(state.jobs),
        "Sessions": [
            {"SessionType": s.session_type, "Username": s.username, "Created": s.created}
            for s in state.sessions.values()
        ],
        "DeletedUsers": state.deleted_users,
        "RefetchRequests": state.refetch_requests,
        "RevokedDevices": [list(pair) for pair in state.revoked_devices],
    }


def apply_seed(state: SimState, seed: dict[str, Any]) -> dict[str, Any]:
    """Create seed data from a JSON document; returns the ids of what was created, by kind.

    Keys (all optional): admins, providers, policies, users, devices, protected_items, vaults,
    connections, jobs. Each list entry takes the keyword arguments of the matching
    `SimState.seed_*` method, with `username` naming the user.
    """
    created: dict[str, Any] = {}
    for admin in seed.get("admins", []):
        state.add_admin(
            admin["username"],
            admin["password"],
            totp_required=bool(admin.get("totp_required", False)),
            totp_codes=set(admin["totp_codes"]) if admin.get("totp_codes") is not None else None,
            organization_id=admin.get("organization_id", ""),
        )
    for provider_id, description in seed.get("providers", {}).items():
        state.seed_provider(provider_id, description)
    created["policies"] = {
        pid: state.set_policy(pid, group_policy) for pid, group_policy in seed.get("policies", {}).items()
    }
    created["users"] = [state.seed_user(**dict(user)).username for user in seed.get("users", [])]
    created["devices"] = [state.seed_device(**dict(d)) for d in seed.get("devices", [])]
    created["protected_items"] = [
        state.seed_protected_item(**dict(p)) for p in seed.get("protected_items", [])
    ]
    created["vaults"] = [state.seed_vault(**dict(v)) for v in seed.get("vaults", [])]
    created["connections"] = [state.seed_connection(**dict(c)) for c in seed.get("connections", [])]
    created["jobs"] = [state.seed_job(**dict(j))["GUID"] for j in seed.get("jobs", [])]
    return created


async def get_state(request: web.Request) -> web.Response:
    profiles = request.query.get("profiles", "1") not in ("0", "false")
    return web.json_response(state_snapshot(_sim(request).state, profiles=profiles))


async def get_user(request: web.Request) -> web.Response:
    state = _sim(request).state
    record = state.users.get(request.match_info["username"])
    if record is None:
        raise web.HTTPNotFound(text="no such user")
    return web.json_response(
        {
            "Profile": state.render_profile(record),
            "ProfileHash": record.profile_hash,
            "Password": record.password,
            "HasRecoveryCode": record.recovery_code is not None,
            "Jobs": state.jobs_by_user.get(record.username, []),
        }
    )


async def get_counters(request: web.Request) -> web.Response:
    return web.json_response(_sim(request).counters.to_json())


async def reset_counters(request: web.Request) -> web.Response:
    counters = _sim(request).counters
    counters.reset()
    return web.json_response(counters.to_json())


async def snapshot_counters(request: web.Request) -> web.Response:
    """Keep a snapshot of the calls per endpoint under a name (body `{"name"}`, default "default")."""
    counters = _sim(request).counters
    name = str((await _json_body(request)).get("name", "default"))
    snap = counters.snapshot()
    counters.marks[name] = snap
    return web.json_response({"name": name, "calls": dict(snap.calls)})


async def counters_since(request: web.Request) -> web.Response:
    """`{endpoint: n}`: the calls made since the named snapshot (`?name=`, default "default")."""
    counters = _sim(request).counters
    name = request.query.get("name", "default")
    snap = counters.marks.get(name)
    if snap is None:
        raise web.HTTPNotFound(text=f"no counters snapshot named {name!r}")
    try:
        return web.json_response(counters.since(snap))
    except CountersReset as exc:
        raise web.HTTPConflict(text=str(exc)) from None


async def get_behaviour(request: web.Request) -> web.Response:
    return web.json_response(_sim(request).behaviour.to_json())


async def set_behaviour(request: web.Request) -> web.Response:
    """Select a profile and/or change switches: `{"profile": NAME, "<switch>": value, ...}`.

    Without "profile" the switches change the current behaviour. The profile's Comet version is
    presented when a profile is selected or "version" is given.
    """
    sim = _sim(request)
    body = await _json_body(request)
    profile = body.pop("profile", None)
    try:
        if profile is not None and not isinstance(profile, str):
            raise ValueError("profile must be a profile name")
        behaviour = resolve_behaviour(profile if profile is not None else sim.behaviour, body)
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=f"invalid behaviour: {exc}") from None
    sim.apply_behaviour(behaviour, with_version=profile is not None or "version" in body)
    return web.json_response(behaviour.to_json())


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(_sim(request).faults.to_json())


async def set_faults(request: web.Request) -> web.Response:
    faults = _sim(request).faults
    body = await _json_body(request)
    merge = request.query.get("merge", "0") in ("1", "true")
    try:
        faults.configure(body, replace=not merge)
    except (TypeError, ValueError, KeyError) as exc:
        raise web.HTTPBadRequest(text=f"invalid fault plan: {exc}") from None
    return web.json_response(faults.to_json())


async def clear_faults(request: web.Request) -> web.Response:
    faults = _sim(request).faults
    faults.clear()
    return web.json_response(faults.to_json())


async def reset(request: web.Request) -> web.Response:
    """Back to an empty server: data, counters and faults (admins, version and behaviour are kept)."""
    sim = _sim(request)
    sim.state.reset()
    sim.counters.reset()
    sim.faults.clear()
    return web.json_response({"Status": 200, "Message": "OK"})


async def seed(request: web.Request) -> web.Response:
    body = await _json_body(request)
    try:
        created = apply_seed(_sim(request).state, body)
    except (TypeError, ValueError, KeyError) as exc:
        raise web.HTTPBadRequest(text=f"invalid seed: {exc}") from None
    return web.json_response(created)


def _config(sim: SimContext) -> dict[str, Any]:
    return {
        "version": sim.state.version.text,
        "installer_size": sim.settings.installer_size,
        "installer_seed": sim.settings.installer_seed,
        "admins": sorted(sim.state.admins),
    }


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(_config(_sim(request)))


async def set_config(request: web.Request) -> web.Response:
    sim = _sim(request)
    body = await _json_body(request)
    try:
        if "version" in body:
            sim.state.set_version(str(body["version"]))
        if "installer_size" in body:
            size = int(body["installer_size"])
            if size < 0:
                raise ValueError("installer_size must be >= 0")
            sim.settings.installer_size = size
        if "installer_seed" in body:
            sim.settings.installer_seed = int(body["installer_seed"])
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(_config(sim))


def add_routes(app: web.Application) -> None:
    p = CONTROL_PREFIX
    app.router.add_get(f"{p}/state", get_state)
    app.router.add_get(p + "/users/{username}", get_user)
    app.router.add_get(f"{p}/counters", get_counters)
    app.router.add_post(f"{p}/counters/reset", reset_counters)
    app.router.add_post(f"{p}/counters/snapshot", snapshot_counters)
    app.router.add_get(f"{p}/counters/since", counters_since)
    app.router.add_get(f"{p}/behaviour", get_behaviour)
    app.router.add_post(f"{p}/behaviour", set_behaviour)
    app.router.add_get(f"{p}/faults", get_faults)
    app.router.add_post(f"{p}/faults", set_faults)
    app.router.add_delete(f"{p}/faults", clear_faults)
    app.router.add_post(f"{p}/reset", reset)
    app.router.add_post(f"{p}/seed", seed)
    app.router.add_get(f"{p}/config", get_config)
    app.router.add_post(f"{p}/config", set_config)
