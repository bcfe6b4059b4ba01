"""The suites' check that foreign Comet users stay untouched (support.ForeignUsers) sees a write, a
deletion and a call that changes a user, and lets a refused add-user and reads pass."""

from __future__ import annotations

import pytest
from comet_provisioning.comet import CometClient, CometError, CometServerConfig
from comet_provisioning.sim import CometSimulator

from tests.fixtures.sim import SIM_ADMIN, SIM_PASSWORD
from tests.reliability.support import ForeignUsers


async def test_foreign_users_check_sees_writes_and_deletions(comet_sim: CometSimulator) -> None:
    foreign = ForeignUsers.seed(comet_sim, ["stranger@example.com", "other@example.com", "third@example.com"])
    comet = CometClient(CometServerConfig("sim", comet_sim.base_url or "", SIM_ADMIN, SIM_PASSWORD))
    try:
        # What the service may do to a foreign name: read it, and find it taken.
        await comet.get_user_profile("stranger@example.com")
        with pytest.raises(CometError):
            await comet.add_user("stranger@example.com", "Another-password-1")
        assert foreign.changes() == []

        await comet.update_user_profile("other@example.com", lambda p: p.update(MaximumDevices=1) is None)
        await comet.delete_user("third@example.com")
    finally:
        await comet.aclose()
    changes = foreign.changes()
    assert len(changes) == 2
    written = next(c for c in changes if "other@example.com" in c)
    assert "MaximumDevices" in written
    assert "ProfileHash" in written
    assert "set-user-profile-hash x1" in written
    assert any("third@example.com: deleted" in c for c in changes)
