"""A Comet Server simulator (aiohttp.web) faithful to the admin API contract.

Used by the demo (`serve --demo`), by every test that needs a Comet Server and by load tests.
It imports nothing of the service, so it can stand in for Comet without sharing the client's bugs.

    async with CometSimulator(admin_password="secret", version="25.9.0", seed=1) as sim:
        sim.state.seed_user("alice01")
        sim.faults.fail_after_commit("add-user")
        ...  # point a client at sim.base_url

`behaviour=` picks how it answers where the contract leaves the reply open (a name from
`BEHAVIOUR_PROFILES`, or a `Behaviour`): parametrize service tests over the profiles.
"""

from __future__ import annotations

from .behaviour import BEHAVIOUR_PROFILES, PRESETS, Behaviour, resolve_behaviour
from .counters import CallSnapshot, Counters, CountersReset
from .faults import FAULT_KINDS, FaultRule, Faults
from .installer import PLATFORMS, installer_digest
from .profiles import EXTRA_PROFILE_FIELDS, SERVER_OWNED_FIELDS
from .server import CometSimulator
from .state import DEFAULT_PROVIDER_ID, DEFAULT_PROVIDER_NAME, SimState, UserRecord
from .versions import DEFAULT_VERSION, OLD_VERSION, ServerVersion

__all__ = [
    "BEHAVIOUR_PROFILES",
    "DEFAULT_PROVIDER_ID",
    "DEFAULT_PROVIDER_NAME",
    "DEFAULT_VERSION",
    "EXTRA_PROFILE_FIELDS",
    "FAULT_KINDS",
    "OLD_VERSION",
    "PLATFORMS",
    "PRESETS",
    "SERVER_OWNED_FIELDS",
    "Behaviour",
    "CallSnapshot",
    "CometSimulator",
    "Counters",
    "CountersReset",
    "FaultRule",
    "Faults",
    "ServerVersion",
    "SimState",
    "UserRecord",
    "installer_digest",
    "resolve_behaviour",
]
