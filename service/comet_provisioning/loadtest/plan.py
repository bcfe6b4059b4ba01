"""What the load generator sends: one order per simulated customer (unique request_id, customer
and requested username), some re-sent with the same request_id (a caller's retry) and some asking
for a username an earlier order already asked for (a collision)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from comet_provisioning_client.v1 import catalog_pb2


@dataclass(frozen=True)
class Order:
    index: int
    request_id: str
    reference: str
    email: str
    username: str
    options: Mapping[str, int]
    # The index of the earlier order whose username this one asks for (a collision), or -1.
    collides_with: int = -1


@dataclass(frozen=True)
class Call:
    order: Order
    duplicate: bool  # a re-send of an order already sent, with the same request_id


@dataclass
class PlanSettings:
    run_id: str
    accounts: int | None  # None: until stopped (duration mode)
    duplicate_fraction: float = 0.0
    same_username_fraction: float = 0.0
    # How many calls later a duplicate may go out at most (overlapping the original when small).
    duplicate_spread: int = 16
    seed: int | None = None
    randomize_options: bool = True


@dataclass
class Plan:
    """Generates calls lazily; shared by the workers of one event loop (no locking needed)."""

    settings: PlanSettings
    product: catalog_pb2.Product
    orders: list[Order] = field(default_factory=list)
    duplicates_sent: int = 0
    stopped: bool = False

    def __post_init__(self) -> None:
        self._rng = random.Random(self.settings.seed)
        self._iter = self._calls()

    def stop(self) -> None:
        """Duration mode: no new orders from now on; re-sends already planned still go out."""
        self.stopped = True

    def next_call(self) -> Call | None:
        return next(self._iter, None)

    def _options(self) -> dict[str, int]:
        if not self.settings.randomize_options:
            return {}
        chosen: dict[str, int] = {}
        for option in self.product.options:
            if option.hidden:
                continue
            hi = min(option.max_quantity, option.min_quantity + 1000)
            chosen[option.key] = self._rng.randint(
                int(option.min_quantity), int(max(hi, option.min_quantity))
            )
        return chosen

    def _new_order(self) -> Order:
        index = len(self.orders)
        run = self.settings.run_id
        username = planned_username(run, index)
        collides = -1
        if index > 0 and self._rng.random() < self.settings.same_username_fraction:
            collides = self._rng.randrange(index)
            username = self.orders[collides].username
        order = Order(
            index=index,
            request_id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            if self.settings.seed is not None
            else str(uuid.uuid4()),
            reference=f"{reference_prefix(run)}{index:06d}",
            email=f"lt{run}{index:06d}@loadtest.example",
            username=username,
            options=self._options(),
            collides_with=collides,
        )
        self.orders.append(order)
        return order

    def _calls(self) -> Iterator[Call]:
        deferred: list[tuple[int, Order]] = []
        sent = 0
        while True:
            due = next((item for item in deferred if item[0] <= sent), None)
            if due is not None:
                deferred.remove(due)
                self.duplicates_sent += 1
                sent += 1
                yield Call(due[1], duplicate=True)
                continue
            limit = self.settings.accounts
            if self.stopped or (limit is not None and len(self.orders) >= limit):
                break
            order = self._new_order()
            if self._rng.random() < self.settings.duplicate_fraction:
                deferred.append((sent + 1 + self._rng.randrange(self.settings.duplicate_spread), order))
            sent += 1
            yield Call(order, duplicate=False)
        for _, order in deferred:  # flush the re-sends still owed
            self.duplicates_sent += 1
            yield Call(order, duplicate=True)


def new_run_id() -> str:
    return uuid.uuid4().hex[:6]


def planned_username(run_id: str, index: int) -> str:
    """The username order `index` of a run asks for (unless it collides with an earlier order)."""
    return f"lt{run_id}{index:06d}"


def foreign_names(run_id: str, accounts: int, fraction: float, seed: int | None) -> list[str]:
    """`fraction` of the usernames a run of `accounts` orders will ask for, chosen at random: the
    names a pre-existing Comet user already holds (see foreign.py)."""
    rng = random.Random(seed)
    count = round(accounts * fraction)
    return [planned_username(run_id, index) for index in sorted(rng.sample(range(accounts), count))]


def reference_prefix(run_id: str) -> str:
    """The customer reference every order of a run starts with: how verify and clean-up find the
    accounts the run created, whatever became of its calls."""
    return f"lt-{run_id}-"
