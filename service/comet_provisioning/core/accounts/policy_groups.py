"""A product's auto-created policy group ("[Create New Policy Group]") exists on a server: made
once per product and server, however many orders race for it, in this process and across replicas.

Whether the policy exists is read from Comet, not inferred from an error: `get_policy` answers None
for any reply without a PolicyHash (servers answer an unknown id with 200, 400 or 500, in any
language), and `policies/set` is an upsert under the product's own deterministic id, so two replicas
that both find it absent write the same policy, not two.
"""

from __future__ import annotations

from comet_provisioning.comet import CometClient
from comet_provisioning.core.keyed_locks import KeyedLocks
from comet_provisioning.core.models import Product
from comet_provisioning.core.unit_of_work import Store

from .journal import Journal
from .profile import created_policy, created_policy_id


class PolicyGroups:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._locks = KeyedLocks()
        self._known: set[tuple[str, str]] = set()

    async def ensure(self, server_id: str, product: Product, client: CometClient, journal: Journal) -> None:
        policy_id = created_policy_id(product.id)
        key = (server_id, policy_id)
        if key in self._known:
            return
        async with self._locks.hold(key):
            if key in self._known:
                return
            async with self._store.read_one() as uow:
                known = await uow.policies.known(server_id, policy_id)
            if not known:
                with journal.step("ensure_policy", "policies/get") as outcome:
                    exists = await client.get_policy(policy_id) is not None
                    outcome.note = "already on the server" if exists else "not on the server yet"
                if not exists:
                    with journal.step("ensure_policy", "policies/set"):
                        await client.set_policy(policy_id, created_policy(product.name))
                async with self._store.write() as uow:
                    await uow.policies.mark(server_id, policy_id, product.id)
            self._known.add(key)
