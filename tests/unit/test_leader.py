"""Leader election against a Lease store with the API server's optimistic concurrency (resourceVersion)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from modelarts_operator.controller.kube import Conflict, KubeError, ObjectGone
from modelarts_operator.controller.leader import ElectionTiming, LeaderElector

FAST = ElectionTiming(lease_duration=15.0, renew_deadline=10.0, retry_period=0.001)
TIMING_AFTER_EXPIRY = FAST.lease_duration + 1


class Leases:
    """One Lease, stored like the API server stores it."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.down = False
        self.hanging = False

    async def _check(self) -> None:
        if self.down:
            raise KubeError("connection refused")
        if self.hanging:  # a network partition: no answer, no error
            await asyncio.Event().wait()

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any]:
        await self._check()
        if self.lease is None:
            raise ObjectGone("no lease")
        return copy.deepcopy(self.lease)

    async def create_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        await self._check()
        if self.lease is not None:
            raise Conflict("exists")
        return self._store(lease)

    async def replace_lease(self, namespace: str, name: str, lease: dict[str, Any]) -> dict[str, Any]:
        await self._check()
        assert self.lease is not None
        if lease["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise Conflict("stale")
        return self._store(lease)

    def _store(self, lease: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        stored = copy.deepcopy(lease)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.lease = stored
        return copy.deepcopy(stored)

    @property
    def holder(self) -> str:
        return str((self.lease or {}).get("spec", {}).get("holderIdentity"))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def elector(store: Leases, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(store, "ops", identity, FAST, clock=clock)  # type: ignore[arg-type]


async def test_the_first_takes_the_lease_and_renews_it() -> None:
    store, clock = Leases(), Clock()
    first = elector(store, "a", clock)
    await first.acquire()
    assert store.holder == "a" and store.lease is not None
    assert store.lease["spec"]["leaseDurationSeconds"] == 15 and store.lease["spec"]["leaseTransitions"] == 0
    assert await first._try_acquire_or_renew() and store.holder == "a"


async def test_a_standby_waits_for_a_live_lease_and_takes_an_expired_one() -> None:
    store, clock = Leases(), Clock()
    await elector(store, "a", clock).acquire()
    standby = elector(store, "b", clock)
    assert not await standby._try_acquire_or_renew()
    clock.now += 14.9  # judged from the moment the standby saw the record, on its own clock
    assert not await standby._try_acquire_or_renew()
    clock.now += 0.2
    assert await standby._try_acquire_or_renew()
    assert store.holder == "b" and store.lease is not None and store.lease["spec"]["leaseTransitions"] == 1


async def test_a_renewal_seen_by_the_standby_restarts_its_count() -> None:
    store, clock = Leases(), Clock()
    leader = elector(store, "a", clock)
    await leader.acquire()
    standby = elector(store, "b", clock)
    assert not await standby._try_acquire_or_renew()
    clock.now += 10
    assert await leader._try_acquire_or_renew()  # renewTime moves
    clock.now += 10  # 20 s after the first look, 10 s after the renewal
    assert not await standby._try_acquire_or_renew()


async def test_two_candidates_racing_for_one_lease_get_one_leader() -> None:
    store, clock = Leases(), Clock()
    results = await asyncio.gather(*(elector(store, name, clock)._try_acquire_or_renew() for name in "abcde"))
    assert sum(results) == 1


async def test_a_leader_that_cannot_renew_gives_up_before_the_lease_expires() -> None:
    store, clock = Leases(), Clock()
    leader = elector(store, "a", clock)
    await leader.acquire()
    store.down = True
    keeping = asyncio.ensure_future(leader.keep())
    for _ in range(50):
        await asyncio.sleep(0.002)
    assert not keeping.done(), "still within the renew deadline"
    clock.now += FAST.renew_deadline
    await asyncio.wait_for(keeping, timeout=2)
    assert FAST.renew_deadline < FAST.lease_duration, "it stops before anybody else may start"


async def test_a_standby_waits_out_an_unreachable_api_server() -> None:
    store, clock = Leases(), Clock()
    await elector(store, "a", clock).acquire()
    standby = elector(store, "b", clock)
    assert not await standby._try_acquire_or_renew()  # it has seen "a" holding the Lease
    store.down = True
    waiting = asyncio.ensure_future(standby.acquire())
    for _ in range(50):
        await asyncio.sleep(0.002)
    assert not waiting.done(), "an outage is not a reason to stop waiting"
    clock.now += TIMING_AFTER_EXPIRY  # "a" did not renew meanwhile either
    store.down = False
    await asyncio.wait_for(waiting, timeout=2)
    assert store.holder == "b"


async def test_a_renewal_that_hangs_is_cut_off_at_the_renew_deadline() -> None:
    """A partition answers nothing: the leader must not wait for its HTTP timeout while the lease runs out."""
    store = Leases()
    quick = ElectionTiming(lease_duration=1.5, renew_deadline=0.5, retry_period=0.1)
    # The real monotonic clock: the cut-off is asyncio's timeout, which the fake clock cannot move.
    leader = LeaderElector(store, "ops", "a", quick)  # type: ignore[arg-type]
    await leader.acquire()
    store.hanging = True
    await asyncio.wait_for(leader.keep(), timeout=quick.lease_duration)  # returned: leadership given up


async def test_release_hands_the_lease_over_at_once() -> None:
    store, clock = Leases(), Clock()
    leader = elector(store, "a", clock)
    await leader.acquire()
    await leader.release()
    assert store.holder == "" and store.lease is not None and store.lease["spec"]["leaseDurationSeconds"] == 1
    assert await elector(store, "b", clock)._try_acquire_or_renew(), "no waiting for a lease duration"


async def test_release_of_a_lease_somebody_else_holds_changes_nothing() -> None:
    store, clock = Leases(), Clock()
    await elector(store, "a", clock).acquire()
    version = store.version
    await elector(store, "b", clock).release()
    assert store.version == version and store.holder == "a"


@pytest.mark.parametrize("field", ["holderIdentity", "renewTime"])
def test_lease_fields_are_the_coordination_api_names(field: str) -> None:
    store, clock = Leases(), Clock()
    asyncio.run(elector(store, "a", clock).acquire())
    assert store.lease is not None and field in store.lease["spec"]
