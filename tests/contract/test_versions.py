"""An old (20.9.0) and a current (25.9.0) Comet Server: the client copes with both sets of replies."""

from __future__ import annotations

import pytest
from comet_provisioning.comet import (
    CometApiError,
    CometAuthFailed,
    CometSecondFactorRequired,
    CometUserExists,
    CometUserNotFound,
    ErrorHints,
)
from comet_provisioning.sim import DEFAULT_VERSION, OLD_VERSION

from .conftest import MemoryFactory
from .support import USER_PASSWORD, RecordingObserver, sim_client

pytestmark = pytest.mark.timeout(30)

# A server answering in another language: no message text the client knows, numbers only.
NO_HINTS = ErrorHints(
    user_exists_messages=frozenset(),
    lockout_messages=frozenset(),
    hash_conflict_messages=frozenset(),
)


def test_the_versions_under_test() -> None:
    assert (OLD_VERSION, DEFAULT_VERSION) == ("20.9.0", "25.9.0")


@pytest.mark.parametrize(("version", "status"), [(OLD_VERSION, 403), (DEFAULT_VERSION, 400)])
async def test_unknown_user_on_each_version(make_sim: MemoryFactory, version: str, status: int) -> None:
    sim = await make_sim(version=version)
    async with sim_client(sim) as client:
        assert (await client.meta_version()).version == version
        for call in (
            client.get_user_profile("ghost01"),
            client.get_user_profile_and_hash("ghost01"),
            client.delete_user("ghost01"),
            client.reset_user_password("ghost01", USER_PASSWORD),
            client.get_jobs_for_user("ghost01"),
            client.start_user_session("ghost01"),
        ):
            with pytest.raises(CometUserNotFound) as caught:
                await call
            assert caught.value.api_status == status
            assert not caught.value.retryable
    # Not-found is final: nothing was retried. Each refusal but get-user-profile's own was settled
    # by reading the user; the credentials were proven by the meta/version just before.
    assert sim.counters.calls_for("get-user-profile", "ghost01") == 6
    assert sim.counters.calls_for("delete-user", "ghost01") == 1
    assert sim.counters.calls["meta/version"] == 1


@pytest.mark.parametrize("version", [OLD_VERSION, DEFAULT_VERSION])
async def test_unknown_user_without_message_hints_is_settled_by_probes(
    make_sim: MemoryFactory, version: str
) -> None:
    sim = await make_sim(version=version)
    async with sim_client(sim, hints=NO_HINTS) as client:
        with pytest.raises(CometUserNotFound):
            await client.reset_user_password("ghost01", USER_PASSWORD)
    assert sim.counters.calls_for("reset-user-password", "ghost01") == 1
    assert sim.counters.calls_for("get-user-profile", "ghost01") == 1  # the read-only probe
    # On 20.9 the 403 could also mean bad credentials: the client checked them first.
    assert sim.counters.calls["meta/version"] == (1 if version == OLD_VERSION else 0)
    assert sim.counters.auth_failures == 0


@pytest.mark.parametrize("version", [OLD_VERSION, DEFAULT_VERSION])
async def test_duplicate_user_is_a_refusal_and_the_code_only_a_hint(
    make_sim: MemoryFactory, version: str
) -> None:
    sim = await make_sim(version=version)
    sim.state.seed_user("taken01")
    async with sim_client(sim, hints=NO_HINTS) as client:
        with pytest.raises(CometApiError) as unhinted:
            await client.add_user("taken01", USER_PASSWORD)
        assert type(unhinted.value) is CometApiError
        assert unhinted.value.reached_server
        assert (unhinted.value.http_status, unhinted.value.api_status) == (200, 400)
    async with sim_client(sim) as client:
        with pytest.raises(CometUserExists) as hinted:  # the simulator's code, configured by default
            await client.add_user("taken01", USER_PASSWORD)
        assert isinstance(hinted.value, CometApiError)
    assert sim.counters.calls_for("add-user", "taken01") == 2
    assert sim.counters.calls_for("get-user-profile", "taken01") == 0  # no guessing by reading


@pytest.mark.parametrize("version", [OLD_VERSION, DEFAULT_VERSION])
async def test_bad_credentials_without_message_hints(make_sim: MemoryFactory, version: str) -> None:
    sim = await make_sim(version=version)
    async with sim_client(sim, hints=NO_HINTS, password="wrong-password") as client:
        with pytest.raises(CometAuthFailed):
            await client.meta_version()
        with pytest.raises(CometAuthFailed):
            await client.get_user_profile("anyone1")
        with pytest.raises(CometAuthFailed):
            await client.list_users()


async def test_hash_update_on_old_and_current_servers(make_sim: MemoryFactory) -> None:
    old, current = await make_sim(version=OLD_VERSION), await make_sim(version=DEFAULT_VERSION)
    for sim in (old, current):
        sim.state.seed_user("suspend1")
        async with sim_client(sim) as client:
            read = await client.get_user_profile_and_hash("suspend1")
            saved = await client.set_user_profile_hash(
                "suspend1", dict(read.profile, IsSuspended=True), read.hash
            )
            if sim is old:
                assert saved is None  # CARM only before 25.6.8
            else:
                assert saved is not None
                assert saved.hash == sim.state.users["suspend1"].profile_hash
                assert saved.profile["IsSuspended"] is True
            updated = await client.update_user_profile("suspend1", lambda p: p.update(IsSuspended=False))
            assert updated.profile["IsSuspended"] is False
            expected_hash = None if sim is old else sim.state.users["suspend1"].profile_hash
            assert updated.profile_hash == expected_hash
    assert "LastSuspended" not in old.state.users["suspend1"].profile  # 22.12.8+
    assert current.state.users["suspend1"].profile["LastSuspended"] > 0


async def test_version_gated_fields(make_sim: MemoryFactory) -> None:
    old, current = await make_sim(version=OLD_VERSION), await make_sim(version=DEFAULT_VERSION)
    for sim in (old, current):
        async with sim_client(sim) as client:
            await client.add_user(
                "orguser1", USER_PASSWORD, require_password_change=True, organization_id="org1"
            )
            profile = await client.get_user_profile("orguser1")
            assert profile["RequirePasswordChange"] is True  # both are >= 20.3.4
            sim.state.seed_connection("orguser1", "dev-a")
            sim.state.seed_connection("someone", "dev-b")
            filtered = await client.list_active_connections("orguser1")
            await client.delete_user("orguser1", uninstall=True)
        assert sim.state.deleted_users[-1]["UninstallConfig"] == {
            "UninstallFlag": True,
            "RemoveConfigFile": False,
        }
        # Before 22.6.7 the client filters the full list itself.
        assert [c["Username"] for c in filtered.values()] == ["orguser1"]
        assert client.server_info is not None
        assert str(client.server_info.version) == sim.state.version.text
        if sim is old:
            assert "OrganizationID" not in profile  # organisations from 22.3.7
        else:
            assert profile["OrganizationID"] == "org1"


async def test_short_usernames_before_21_9_10(make_sim: MemoryFactory) -> None:
    old, current = await make_sim(version=OLD_VERSION), await make_sim(version=DEFAULT_VERSION)
    async with sim_client(old) as client:
        with pytest.raises(CometApiError) as caught:
            await client.add_user("bob", USER_PASSWORD)
        assert caught.value.api_status == 400
    async with sim_client(current) as client:
        await client.add_user("bob", USER_PASSWORD)
    assert "bob" not in old.state.users
    assert "bob" in current.state.users


async def test_second_factor_required(make_sim: MemoryFactory) -> None:
    sim = await make_sim(totp_required=True)
    observer = RecordingObserver()
    async with sim_client(sim, observer) as client:
        with pytest.raises(CometSecondFactorRequired) as caught:
            await client.meta_version()
    assert caught.value.api_status == 403
    assert not caught.value.retryable
    assert observer.outcomes() == ["second_factor_required"]
    assert sim.counters.auth_failures == 0  # the password was right
