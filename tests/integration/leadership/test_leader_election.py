"""Leader election on a real kube-apiserver: one leader among electors, a release hands over at
once, a hung leader is replaced after the lease duration and learns it lost, an ousted leader
notices, and a race to create the Lease leaves one leader.

Durations are small so that the tests are short; where a test shows that something does *not*
happen, the lease is long enough that it could not happen within the test's wait.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from kubernetes import client
from prometheus_client import REGISTRY

from voxgate.devcluster import ControlPlane
from voxgate.leadership import (
    ElectionTiming,
    LeaderElector,
    LeadershipLost,
    LeaseConflict,
    LeaseRecord,
    LeaseStore,
    claim,
)

pytestmark = pytest.mark.integration

# A lease no test outlives: nobody can take it over by expiry within a test's wait.
LONG = ElectionTiming(lease_duration=30, renew_deadline=20.0, retry_period=0.2)
# Short enough to watch a lease expire.
SHORT = ElectionTiming(lease_duration=2, renew_deadline=1.0, retry_period=0.2)
# How long a test waits for something that must happen (a bound, not a measurement).
PATIENCE = 20.0
# How long a test watches for something that must not happen (well under LONG's lease).
WATCH = 2.0


@pytest.fixture
def store(control_plane: ControlPlane, namespace: str) -> LeaseStore:
    return LeaseStore(control_plane.api_client(), namespace, "voxgate-operator")


def held_by(store: LeaseStore) -> str:
    lease = store.read()
    assert lease is not None
    return lease.holder


def leader_gauge() -> float | None:
    return REGISTRY.get_sample_value("voxgate_leader")


@contextlib.asynccontextmanager
async def electors(
    stores: Sequence[LeaseStore], identities: list[str], timing: ElectionTiming
) -> AsyncIterator[list[LeaderElector]]:
    """Electors that stop renewing when the test ends, whatever happened."""
    made = [LeaderElector(s, i, timing) for s, i in zip(stores, identities, strict=True)]
    try:
        yield made
    finally:
        for elector in made:
            if elector.renewing is not None:
                elector.renewing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await elector.renewing


async def test_the_lease_round_trips_with_microsecond_times(store: LeaseStore) -> None:
    # A whole-second time is what the client would send without a fraction, which the API
    # server refuses for a MicroTime.
    whole_second = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    created = store.create(claim(None, "voxgate-0", whole_second, 15))
    assert (created.holder, created.duration_seconds, created.transitions) == ("voxgate-0", 15, 0)
    assert created.renew_time is not None
    assert abs((created.renew_time - whole_second).total_seconds()) < 0.001
    assert store.read() == created
    with pytest.raises(LeaseConflict):
        store.create(claim(None, "voxgate-1", whole_second, 15))
    stale = created
    store.replace(claim(created, "voxgate-0", datetime.now(UTC), 15))
    with pytest.raises(LeaseConflict):
        store.replace(claim(stale, "voxgate-1", datetime.now(UTC), 15))
    assert held_by(store) == "voxgate-0"


async def test_two_electors_one_leader(store: LeaseStore) -> None:
    async with electors([store, store], ["voxgate-0", "voxgate-1"], LONG) as (first, second):
        await asyncio.wait_for(first.acquire(), PATIENCE)
        assert first.is_leader and leader_gauge() == 1
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(second.acquire(), WATCH)
        assert first.is_leader and not second.is_leader
        assert not first.lost.is_set()
        assert held_by(store) == "voxgate-0"


async def test_a_release_hands_over_at_once(store: LeaseStore) -> None:
    async with electors([store, store], ["voxgate-0", "voxgate-1"], LONG) as (first, second):
        await asyncio.wait_for(first.acquire(), PATIENCE)
        standby = asyncio.create_task(second.acquire())
        await asyncio.sleep(WATCH)  # the standby is polling the Lease
        assert not standby.done()

        assert await first.release() is True
        assert not first.is_leader and first.renewing is None and leader_gauge() == 0
        # The lease would last 30 s more: the standby can only lead this soon through release.
        await asyncio.wait_for(standby, PATIENCE)
        assert second.is_leader and leader_gauge() == 1
        lease = store.read()
        assert lease is not None and (lease.holder, lease.transitions) == ("voxgate-1", 1)

        # Releasing again, or after losing, never touches the new leader's Lease.
        assert await first.release() is False
        assert held_by(store) == "voxgate-1"
        assert not first.lost.is_set()


async def test_a_hung_leader_is_replaced_and_learns_it_lost(store: LeaseStore) -> None:
    async with electors([store, store], ["voxgate-0", "voxgate-1"], SHORT) as (first, second):
        await asyncio.wait_for(first.acquire(), PATIENCE)
        before = store.read()
        # The leader hangs: it stops renewing, and never releases.
        assert first.renewing is not None
        first.renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first.renewing

        await asyncio.wait_for(second.acquire(), PATIENCE)
        lease = store.read()
        assert before is not None and lease is not None
        assert (lease.holder, lease.transitions) == ("voxgate-1", before.transitions + 1)
        # Past its renew deadline the old leader no longer counts itself the leader ...
        assert not first.is_leader
        # ... and when it wakes up and tries to renew, it learns it lost, and writes nothing.
        assert await first.renew_once() is False
        assert first.lost.is_set()
        assert store.read() == lease
        with pytest.raises(LeadershipLost):
            await first.acquire()
        assert second.is_leader


async def test_an_ousted_leader_sets_lost_at_its_next_renewal(store: LeaseStore) -> None:
    async with electors([store], ["voxgate-0"], LONG) as (leader,):
        await asyncio.wait_for(leader.acquire(), PATIENCE)
        # Someone else writes the Lease under it (another replica that misjudged, or a person).
        current = store.read()
        intruder = store.replace(claim(current, "intruder", datetime.now(UTC), 30))
        await asyncio.wait_for(leader.lost.wait(), PATIENCE)
        assert not leader.is_leader and leader_gauge() == 0
        assert store.read() == intruder  # the ousted leader did not write it back
        assert await leader.release() is False
        assert held_by(store) == "intruder"


async def test_a_restarted_replica_takes_its_own_lease_back_at_once(store: LeaseStore) -> None:
    async with electors([store, store], ["voxgate-0", "voxgate-0"], LONG) as (before, after):
        await asyncio.wait_for(before.acquire(), PATIENCE)
        assert before.renewing is not None
        before.renewing.cancel()  # the old process died without releasing
        # Same pod name: the Lease is its own, no need to wait 30 s for it to expire.
        await asyncio.wait_for(after.acquire(), PATIENCE)
        lease = store.read()
        assert lease is not None and (lease.holder, lease.transitions) == ("voxgate-0", 0)


class RacingStore(LeaseStore):
    """The real store, except that the first read of each waits until every racer has read:
    all of them see no Lease and try to create it. Records who lost the create."""

    def __init__(self, base: LeaseStore, barrier: threading.Barrier, conflicts: list[str]) -> None:
        super().__init__(base.coordination.api_client, base.namespace, base.name)
        self.barrier, self.conflicts, self.first = barrier, conflicts, True

    def read(self) -> LeaseRecord | None:
        lease = super().read()
        if self.first:
            self.first = False
            self.barrier.wait(timeout=PATIENCE)
        return lease

    def create(self, record: LeaseRecord) -> LeaseRecord:
        try:
            return super().create(record)
        except LeaseConflict:
            self.conflicts.append(record.holder)
            raise


async def test_a_race_to_create_the_lease_leaves_one_leader(store: LeaseStore) -> None:
    barrier, conflicts = threading.Barrier(2), list[str]()
    racers = [RacingStore(store, barrier, conflicts) for _ in range(2)]
    async with electors(racers, ["voxgate-0", "voxgate-1"], LONG) as pair:
        tasks = [asyncio.create_task(e.acquire()) for e in pair]
        done, pending = await asyncio.wait(tasks, timeout=PATIENCE, return_when="FIRST_COMPLETED")
        assert len(done) == 1
        winner = next(e for e, t in zip(pair, tasks, strict=True) if t in done)
        loser = next(e for e in pair if e is not winner)
        # Both saw no Lease and both created it: exactly one create lost, with a 409.
        async with asyncio.timeout(PATIENCE):
            while not conflicts:
                await asyncio.sleep(0.05)
        assert conflicts == [loser.identity]
        await asyncio.sleep(WATCH)
        assert not pending.pop().done()
        for task in tasks:
            task.cancel()
        assert winner.is_leader and not loser.is_leader
        assert held_by(store) == winner.identity


def test_the_lease_is_labelled(
    store: LeaseStore, control_plane: ControlPlane, namespace: str
) -> None:
    store.create(claim(None, "voxgate-0", datetime.now(UTC), 15))
    lease = client.CoordinationV1Api(control_plane.api_client()).read_namespaced_lease(
        "voxgate-operator", namespace
    )
    assert lease.metadata is not None and lease.metadata.labels == {
        "app.kubernetes.io/managed-by": "voxgate",
        "app.kubernetes.io/component": "leader-election",
    }


async def test_a_busy_default_executor_does_not_cost_the_lease(store: LeaseStore) -> None:
    """The operator's API calls run on the loop's default executor; in a burst its threads are
    all taken. Renewals must not wait for one, or the leader steps down for being busy."""
    loop = asyncio.get_running_loop()
    busy = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="test-busy")
    loop.set_default_executor(busy)
    release = threading.Event()
    try:
        async with electors([store], ["voxgate-0"], SHORT) as (leader,):
            await asyncio.wait_for(leader.acquire(), PATIENCE)
            # The only default thread is held for three renew deadlines.
            occupied = loop.run_in_executor(None, release.wait, 10.0)
            await asyncio.sleep(3 * SHORT.renew_deadline)
            assert leader.is_leader and not leader.lost.is_set()
            release.set()
            await occupied
    finally:
        release.set()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor())
        busy.shutdown(wait=False)
