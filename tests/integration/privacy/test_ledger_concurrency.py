"""The ledger ConfigMap under concurrent writers, against a real kube-apiserver and etcd."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate.devcluster import ControlPlane
from voxgate.privacy import ledger_json
from voxgate.privacy.accountant import composed_epsilon
from voxgate.privacy.ledger import (
    Budget,
    BudgetExceeded,
    EntryState,
    InvalidTransition,
    LedgerEntry,
    new_entry,
    summary,
)
from voxgate.privacy.ledger_json import LedgerFormatError
from voxgate.privacy.params import DPSGDParams
from voxgate.privacy.store import LEDGER_KEY, LedgerStore, Sighting, configmap_name

pytestmark = pytest.mark.integration

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DELTA = 1e-5
DATASET = "callcentre-2024"
THREADS = 50
FITS = 7
RUN = DPSGDParams(1.1, 0.004, 1000, DELTA)


def entry(index: int, params: DPSGDParams = RUN) -> LedgerEntry:
    return new_entry(
        f"uid-{index:02d}",
        job_namespace="team-a",
        job_name=f"train-{index:02d}",
        grant="asr-2026",
        params=params,
        at=T0,
    )


def test_concurrent_reservations_admit_exactly_what_fits(
    control_plane: ControlPlane, namespace: str
) -> None:
    total = composed_epsilon([RUN] * FITS, DELTA)
    assert composed_epsilon([RUN] * (FITS + 1), DELTA) > total  # one more would not fit
    limits = Budget(total, DELTA, {"asr-2026": 100.0})
    start = threading.Barrier(THREADS)
    outcomes: dict[str, str] = {}

    def reserve(index: int) -> None:
        job = entry(index)
        with closing(control_plane.api_client()) as api_client:
            store = LedgerStore.from_api_client(api_client)
            start.wait()  # all 50 race, starting with the creation of the ConfigMap
            try:
                store.reserve(namespace, DATASET, job, limits)
                outcomes[job.uid] = "reserved"
            except BudgetExceeded:
                outcomes[job.uid] = "exceeded"
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                outcomes[job.uid] = f"{type(error).__name__}: {error}"

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)

    assert Counter(outcomes.values()) == {"reserved": FITS, "exceeded": THREADS - FITS}
    api_client = control_plane.api_client()
    ledger = LedgerStore.from_api_client(api_client).read(namespace, DATASET)
    assert ledger is not None
    assert len(ledger.entries) == FITS
    assert {e.uid for e in ledger.entries} == {u for u, o in outcomes.items() if o == "reserved"}
    assert all(e.state == EntryState.RESERVED for e in ledger.entries)
    totals = summary(ledger)
    assert totals["epsilonSpent"] + totals["epsilonReserved"] <= total
    assert totals["epsilonRemaining"] == 0.0

    configmap = client.CoreV1Api(api_client).read_namespaced_config_map(
        configmap_name(DATASET), namespace
    )
    assert configmap.metadata is not None and configmap.data is not None
    assert configmap.metadata.labels == {
        "app.kubernetes.io/managed-by": "voxgate",
        "voxgate.io/dataset": DATASET,
    }
    assert configmap.metadata.owner_references is None  # outlives jobs and the dataset object
    assert set(configmap.data) == {LEDGER_KEY}


class CountingCoreApi:
    """The real CoreV1Api, with a count of the ConfigMap reads and writes that went through it."""

    def __init__(self, api: client.CoreV1Api) -> None:
        self.api = api
        self.reads = self.writes = 0
        self.guard = threading.Lock()

    def __getattr__(self, name: str) -> object:
        attribute = getattr(self.api, name)
        with self.guard:
            if name in ("create_namespaced_config_map", "replace_namespaced_config_map"):
                self.writes += 1
            elif name == "read_namespaced_config_map":
                self.reads += 1
        return attribute


def test_threads_sharing_a_store_commit_their_reservations_together(
    control_plane: ControlPlane, namespace: str
) -> None:
    """The operator's handler threads share one store: a burst is a few writes, not one each,
    and a change refused inside a batch leaves the others standing."""
    fits = THREADS - 5
    total = composed_epsilon([RUN] * fits, DELTA)
    limits = Budget(total, DELTA, {"asr-2026": 100.0})
    start = threading.Barrier(THREADS)
    outcomes: dict[str, str] = {}
    with closing(control_plane.api_client()) as api_client:
        counting = CountingCoreApi(client.CoreV1Api(api_client))
        store = LedgerStore(counting)

        def reserve(index: int) -> None:
            job = entry(index)
            start.wait()
            try:
                store.reserve(namespace, DATASET, job, limits)
                outcomes[job.uid] = "reserved"
            except BudgetExceeded:
                outcomes[job.uid] = "exceeded"
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                outcomes[job.uid] = f"{type(error).__name__}: {error}"

        threads = [threading.Thread(target=reserve, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        assert not any(thread.is_alive() for thread in threads)

        assert Counter(outcomes.values()) == {"reserved": fits, "exceeded": THREADS - fits}
        # One write per commit, not per reservation (a write takes milliseconds, queueing
        # microseconds), and no compare-and-swap lost between threads of one process.
        assert 1 <= counting.writes <= 10
        assert store.conflicts == 0
        ledger = store.read(namespace, DATASET)
        assert ledger is not None
        reserved = {uid for uid, outcome in outcomes.items() if outcome == "reserved"}
        assert {e.uid for e in ledger.entries} == reserved
        with pytest.raises(BudgetExceeded):
            store.reserve(namespace, DATASET, entry(THREADS + 1), limits)
        settled = store.finish(namespace, DATASET, next(iter(ledger.entries)).uid, T0)
        assert len(settled.entries) == fits


def test_lifecycle_through_the_store(control_plane: ControlPlane, namespace: str) -> None:
    api_client = control_plane.api_client()
    store = LedgerStore.from_api_client(api_client)
    limits = Budget(10.0, DELTA, {"asr-2026": 10.0})
    first, second = entry(1), entry(2)
    store.reserve(namespace, DATASET, first, limits)
    store.reserve(namespace, DATASET, second, limits)
    configmap = client.CoreV1Api(api_client).read_namespaced_config_map(
        configmap_name(DATASET), namespace
    )
    assert configmap.metadata is not None
    version = configmap.metadata.resource_version
    # At-least-once handlers: repeating a reservation writes nothing.
    store.reserve(namespace, DATASET, first, limits)
    again = client.CoreV1Api(api_client).read_namespaced_config_map(
        configmap_name(DATASET), namespace
    )
    assert again.metadata is not None and again.metadata.resource_version == version

    store.charge(namespace, DATASET, "uid-01", T0)
    store.finish(namespace, DATASET, "uid-01", T0)
    store.release(namespace, DATASET, "uid-02", T0)
    with pytest.raises(InvalidTransition, match="permanent"):
        store.release(namespace, DATASET, "uid-01", T0)
    ledger = store.read(namespace, DATASET)
    assert ledger is not None
    assert [e.state for e in ledger.entries] == [EntryState.SETTLED, EntryState.RELEASED]


def test_a_parsed_ledger_is_reused_only_while_its_version_stands(
    control_plane: ControlPlane, namespace: str
) -> None:
    """The store keeps the ledger it parsed per resourceVersion; a write by anyone else (another
    replica, `voxgate budget`, a hand edit) must show in the next read all the same."""
    api_client = control_plane.api_client()
    mine, other = LedgerStore.from_api_client(api_client), LedgerStore.from_api_client(api_client)
    limits = Budget(10.0, DELTA, {"asr-2026": 10.0})
    mine.reserve(namespace, DATASET, entry(1), limits)
    first = mine.read(namespace, DATASET)
    assert first is not None and mine.read(namespace, DATASET) is first  # one copy, shared

    other.reserve(namespace, DATASET, entry(2), limits)
    after_other = mine.read(namespace, DATASET)
    assert after_other is not None and after_other is not first
    assert [e.uid for e in after_other.entries] == ["uid-01", "uid-02"]

    # A hand edit through the API server: the text changes under a new resourceVersion.
    core = client.CoreV1Api(api_client)
    configmap = core.read_namespaced_config_map(configmap_name(DATASET), namespace)
    edited = ledger_json.dumps(dataclasses.replace(after_other, entries=after_other.entries[:1]))
    configmap.data = {LEDGER_KEY: edited}
    core.replace_namespaced_config_map(configmap_name(DATASET), namespace, configmap)
    seen = mine.read(namespace, DATASET)
    assert seen is not None and [e.uid for e in seen.entries] == ["uid-01"]

    # Its own write is known without parsing it back, and is what the next reservation builds on.
    mine.reserve(namespace, DATASET, entry(3), limits)
    latest = mine.read(namespace, DATASET)
    assert latest is not None and [e.uid for e in latest.entries] == ["uid-01", "uid-03"]
    assert other.read(namespace, DATASET) == latest


def test_a_recent_ledger_is_only_as_old_as_allowed(
    control_plane: ControlPlane, namespace: str
) -> None:
    """recent() answers from what the store last read or wrote, never from an older sighting."""
    now = [100.0]
    store = LedgerStore(client.CoreV1Api(control_plane.api_client()), clock=lambda: now[0])
    limits = Budget(10.0, DELTA, {"asr-2026": 10.0})
    assert store.recent(namespace, DATASET, within=5.0) is None  # never seen
    assert store.read(namespace, DATASET) is None
    assert store.recent(namespace, DATASET, within=5.0) == Sighting(None)  # seen missing
    store.reserve(namespace, DATASET, entry(1), limits)
    seen = store.recent(namespace, DATASET, within=5.0)
    written = seen.ledger if seen is not None else None
    assert written is not None and [e.uid for e in written.entries] == ["uid-01"]

    now[0] += 6.0
    assert store.recent(namespace, DATASET, within=5.0) is None  # too old: read it again
    assert store.read(namespace, DATASET) is written  # same version: a read renews it...
    assert store.recent(namespace, DATASET, within=5.0) == Sighting(written)
    assert store.recent(namespace, "another-dataset", within=5.0) is None  # ...for that one only


def test_a_commit_builds_on_the_stores_own_last_write_unless_someone_else_wrote(
    control_plane: ControlPlane, namespace: str
) -> None:
    """After its own write a store swaps without reading first; a write by anyone else since
    fails that swap, and the retry reads, so nothing written by the other is lost."""
    api_client = control_plane.api_client()
    counting = CountingCoreApi(client.CoreV1Api(api_client))
    mine, other = LedgerStore(counting), LedgerStore.from_api_client(api_client)
    limits = Budget(10.0, DELTA, {"asr-2026": 10.0})
    mine.reserve(namespace, DATASET, entry(1), limits)  # read (missing), then create
    assert (counting.reads, counting.writes) == (1, 1)
    mine.reserve(namespace, DATASET, entry(2), limits)
    assert (counting.reads, counting.writes) == (1, 2)  # no read before the swap
    assert mine.conflicts == 0

    other.reserve(namespace, DATASET, entry(3), limits)
    mine.reserve(namespace, DATASET, entry(4), limits)
    assert mine.conflicts == 1  # the swap on its own (now stale) write failed...
    assert (counting.reads, counting.writes) == (2, 4)  # ...and the retry read first
    ledger = other.read(namespace, DATASET)
    assert ledger is not None
    assert [e.uid for e in ledger.entries] == ["uid-01", "uid-02", "uid-03", "uid-04"]

    # Deleted since its last write (by hand): the swap finds nothing, the retry creates anew.
    client.CoreV1Api(api_client).delete_namespaced_config_map(configmap_name(DATASET), namespace)
    mine.reserve(namespace, DATASET, entry(5), limits)
    ledger = other.read(namespace, DATASET)
    assert ledger is not None and [e.uid for e in ledger.entries] == ["uid-05"]


class WriteDuringRead:
    """The real CoreV1Api, except that the first read's answer reaches the store only after
    `during` has run: a write by this store that lands while its read is under way."""

    def __init__(self, api: client.CoreV1Api, during: Callable[[], object]) -> None:
        self.api, self.during = api, during

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)

    def read_namespaced_config_map(self, name: str, namespace: str) -> Any:
        during, self.during = self.during, lambda: None
        try:
            return self.api.read_namespaced_config_map(name, namespace)
        finally:
            during()


def test_a_missing_ledger_read_does_not_hide_a_newer_write(
    control_plane: ControlPlane, namespace: str
) -> None:
    """A read that found no ledger, answered after this store created it, must not leave the
    store believing there is none."""
    now = [100.0]
    limits = Budget(10.0, DELTA, {"asr-2026": 10.0})
    store: LedgerStore

    def reserve_meanwhile() -> None:
        now[0] += 1.0
        store.reserve(namespace, DATASET, entry(1), limits)

    api = WriteDuringRead(client.CoreV1Api(control_plane.api_client()), reserve_meanwhile)
    store = LedgerStore(api, clock=lambda: now[0])
    assert store.read(namespace, DATASET) is None  # the ConfigMap did not exist when it was read
    seen = store.recent(namespace, DATASET, within=5.0)
    assert seen is not None and seen.ledger is not None
    assert [e.uid for e in seen.ledger.entries] == ["uid-01"]


def test_a_foreign_configmap_is_not_taken_for_a_ledger(
    control_plane: ControlPlane, namespace: str
) -> None:
    api_client = control_plane.api_client()
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=configmap_name("forged")),
            data={LEDGER_KEY: "{}"},
        ),
    )
    store = LedgerStore(core)
    with pytest.raises(LedgerFormatError, match="not managed by voxgate"):
        store.reserve(namespace, "forged", entry(3), Budget(99.0, DELTA, {"asr-2026": 99.0}))
    with pytest.raises(ApiException) as error:
        core.read_namespaced_config_map(configmap_name("absent"), namespace)
    assert error.value.status == 404
    assert store.read(namespace, "absent") is None
