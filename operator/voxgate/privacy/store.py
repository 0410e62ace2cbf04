"""The ledger in the API server: ConfigMap `voxgate-ledger-<dataset>` beside the dataset.

Every change is read, apply a pure function from ledger.py, write back with `replace` carrying
the resourceVersion that was read. The API server refuses a replace whose resourceVersion is
stale (409 Conflict), so two writers can never both succeed on the same version: the loser
re-reads and re-applies the function to the new state, which is what makes concurrent
reservations unable to overspend. After its own write a store skips the read and builds on what
it wrote: if anyone else wrote since, that swap is the stale one and fails the same way. A
missing ConfigMap is created; if another writer created it first (409 AlreadyExists) the loop
re-reads it the same way.

The ConfigMap has no owner reference on purpose: privacy loss outlives the TrainingJob and even
the SpeechDataset object (a dataset re-published under the same name is the same people's data).
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate.privacy import ledger_json
from voxgate.privacy.ledger import (
    DEFAULT_MAX_SETTLED,
    Budget,
    Ledger,
    LedgerEntry,
    LedgerError,
    charge,
    compact,
    finish,
    new_ledger,
    release,
    reserve,
    settle,
)
from voxgate.privacy.ledger_json import LedgerFormatError

LEDGER_KEY = "ledger.json"
NAME_PREFIX = "voxgate-ledger-"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "voxgate"
DATASET_LABEL = "voxgate.io/dataset"
DATASET_ANNOTATION = "voxgate.io/dataset"
HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


class LedgerContention(LedgerError):
    """Too many concurrent writers: the compare-and-swap lost every attempt."""


def configmap_name(dataset: str) -> str:
    name = NAME_PREFIX + dataset
    if len(name) > MAX_NAME_LENGTH:
        raise LedgerError(f"dataset name {dataset[:40]}... is too long for a ledger ConfigMap name")
    return name


def dataset_label_value(dataset: str) -> str:
    """The dataset name if it is a valid label value, else a stable shortened form of it."""
    if len(dataset) <= MAX_LABEL_LENGTH and _LABEL_VALUE.match(dataset):
        return dataset
    digest = hashlib.sha256(dataset.encode()).hexdigest()[:10]
    return f"{dataset[:52].rstrip('-_.')}-{digest}"


@dataclass(eq=False)
class _Change:
    """One caller's change waiting for a group commit, and what became of it."""

    change: Callable[[Ledger], Ledger]
    budget: Budget | None
    done: bool = False
    error: BaseException | None = None
    ledger: Ledger | None = None

    def apply(self, ledger: Ledger) -> Ledger:
        """The ledger with this change, or unchanged (and the error kept) if it is refused.

        Runs again from scratch after a lost compare-and-swap, so the error is reset first."""
        self.error = None
        try:
            return self.change(ledger)
        except Exception as error:  # noqa: BLE001 - the caller's own error, re-raised to it
            self.error = error
            return ledger

    def finish(self, ledger: Ledger) -> None:
        self.ledger, self.done = ledger, True

    def fail(self, error: BaseException) -> None:
        self.error, self.done = error, True

    def outcome(self) -> Ledger:
        if self.error is not None:
            raise self.error
        assert self.ledger is not None
        return self.ledger


@dataclass(frozen=True)
class Sighting:
    """What a store last saw of a dataset's ledger: the ledger, or None when there was none."""

    ledger: Ledger | None


@dataclass
class LedgerStore:
    """Reads and writes ledgers through a kubernetes CoreV1Api (sync client)."""

    api: Any
    max_attempts: int = 200
    max_settled: int = DEFAULT_MAX_SETTLED
    max_backoff_seconds: float = 0.5
    # For how long a ledger was last seen as current (recent()); injectable for tests.
    clock: Callable[[], float] = time.monotonic
    # Lost compare-and-swaps so far, for metrics and the benchmark.
    conflicts: int = 0
    _locks: dict[tuple[str, str], threading.Lock] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _guard: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _queues: dict[tuple[str, str], list[_Change]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # The ledger as parsed at the last resourceVersion read, per ConfigMap. A burst reads one
    # version many times (every admission and every reservation) and parsing grows with the
    # ledger; a Ledger is immutable, so passes running at once also share one copy in memory.
    # With each: when this store last saw that version as current (a read or its own write).
    # A ledger read as missing is kept too (version "", ledger None): most datasets have none
    # until their first DP job, and the webhook would otherwise read the absence every time.
    _parsed: dict[tuple[str, str], tuple[str, Ledger | None, float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    # This store's last write per ConfigMap, as the API server answered it: the next commit
    # builds on it without reading first. Only ever the base of a compare-and-swap, so a write
    # by anyone else since makes that swap fail (409) and the retry read fresh.
    _own_write: dict[tuple[str, str], tuple[Any, Ledger]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_api_client(cls, api_client: client.ApiClient) -> LedgerStore:
        return cls(client.CoreV1Api(api_client))

    def _read(self, namespace: str, dataset: str) -> tuple[Ledger | None, Any]:
        name = configmap_name(dataset)
        asked = self.clock()
        try:
            configmap = self.api.read_namespaced_config_map(name, namespace)
        except ApiException as error:
            if error.status == HTTP_NOT_FOUND:
                with self._guard:
                    known = self._parsed.get((namespace, name))
                    # Not over a ledger this store wrote while the read was under way.
                    if known is None or known[2] < asked:
                        self._parsed[(namespace, name)] = ("", None, self.clock())
                return None, None
            raise
        labels = configmap.metadata.labels or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
            raise LedgerFormatError(f"ConfigMap {namespace}/{name} is not managed by voxgate")
        text = (configmap.data or {}).get(LEDGER_KEY)
        if text is None:
            raise LedgerFormatError(f"ConfigMap {namespace}/{name} has no {LEDGER_KEY}")
        version = configmap.metadata.resource_version
        with self._guard:
            known = self._parsed.get((namespace, name))
            if known is not None and known[1] is not None and version and known[0] == version:
                self._parsed[(namespace, name)] = (version, known[1], self.clock())
                return known[1], configmap
        ledger = ledger_json.loads(text)
        if (ledger.dataset_namespace, ledger.dataset_name) != (namespace, dataset):
            raise LedgerFormatError(
                f"ConfigMap {namespace}/{name} holds the ledger of another dataset"
            )
        if version:
            with self._guard:
                self._parsed[(namespace, name)] = (version, ledger, self.clock())
        return ledger, configmap

    def read(self, namespace: str, dataset: str) -> Ledger | None:
        return self._read(namespace, dataset)[0]

    def recent(self, namespace: str, dataset: str, within: float) -> Sighting | None:
        """The ledger this store last read or wrote (or found missing), if that was at most
        `within` seconds ago; None otherwise (read it). Only for answers that are checked again
        against a fresh read, as the webhook's allowed decisions are by the reconciler's
        compare-and-swap."""
        with self._guard:
            known = self._parsed.get((namespace, configmap_name(dataset)))
        if known is None or self.clock() - known[2] > within:
            return None
        return Sighting(known[1])

    def _create(self, ledger: Ledger) -> None:
        metadata = client.V1ObjectMeta(
            name=configmap_name(ledger.dataset_name),
            namespace=ledger.dataset_namespace,
            labels={
                MANAGED_BY_LABEL: MANAGED_BY,
                DATASET_LABEL: dataset_label_value(ledger.dataset_name),
            },
            annotations={DATASET_ANNOTATION: ledger.dataset_name},
        )
        body = client.V1ConfigMap(metadata=metadata, data={LEDGER_KEY: ledger_json.dumps(ledger)})
        created = self.api.create_namespaced_config_map(ledger.dataset_namespace, body)
        self._written(created, ledger)

    def _replace(self, configmap: Any, ledger: Ledger) -> None:
        # `configmap` is the object as read, resourceVersion included: the compare in the swap.
        configmap.data = {**(configmap.data or {}), LEDGER_KEY: ledger_json.dumps(ledger)}
        written = self.api.replace_namespaced_config_map(
            configmap.metadata.name, configmap.metadata.namespace, configmap
        )
        self._written(written, ledger)

    def _written(self, configmap: Any, ledger: Ledger) -> None:
        """Remember our own write under the version the API server gave it."""
        metadata = getattr(configmap, "metadata", None)
        version = getattr(metadata, "resource_version", None)
        if isinstance(version, str) and version:
            with self._guard:
                key = (ledger.dataset_namespace, configmap_name(ledger.dataset_name))
                self._parsed[key] = (version, ledger, self.clock())
                self._own_write[key] = (configmap, ledger)

    def _dataset_lock(self, namespace: str, dataset: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault((namespace, dataset), threading.Lock())

    def _count_conflict(self) -> None:
        with self._guard:
            self.conflicts += 1

    def update(
        self,
        namespace: str,
        dataset: str,
        change: Callable[[Ledger], Ledger],
        budget: Budget | None = None,
    ) -> Ledger:
        """Apply `change` atomically; `budget` is needed only to create a missing ledger.

        Errors from `change` (BudgetExceeded, InvalidTransition, ...) are this caller's alone:
        its change is left out and nothing of it is written.

        Group commit: threads sharing this store (the operator's handlers) queue their changes;
        whoever holds the dataset's lock applies every queued change in arrival order and writes
        them in one compare-and-swap. A burst of reservations then costs a few writes, not one
        per job, and no compare-and-swap is wasted on a sibling thread. The resourceVersion
        check still guards against every other writer (another replica during a leader
        hand-over, the key broker, `voxgate budget`).
        """
        mine = _Change(change, budget)
        key = (namespace, dataset)
        with self._guard:
            self._queues.setdefault(key, []).append(mine)
        with self._dataset_lock(namespace, dataset):
            if not mine.done:
                with self._guard:
                    batch, self._queues[key] = self._queues[key], []
                self._commit(namespace, dataset, batch)
        return mine.outcome()

    def _commit(self, namespace: str, dataset: str, batch: list[_Change]) -> None:
        try:
            ledger = self._update_with_retries(namespace, dataset, batch)
        except BaseException as error:
            for item in batch:
                item.fail(error)
            raise
        for item in batch:
            item.finish(ledger)

    def _swap_base(self, namespace: str, dataset: str) -> tuple[Ledger | None, Any, bool]:
        """(ledger, ConfigMap, whether it is this store's own last write) to build a swap on."""
        with self._guard:  # taken, not copied: the base of one attempt at most
            own = self._own_write.pop((namespace, configmap_name(dataset)), None)
        if own is not None:
            return own[1], own[0], True
        current, configmap = self._read(namespace, dataset)
        return current, configmap, False

    def _update_with_retries(self, namespace: str, dataset: str, batch: list[_Change]) -> Ledger:
        for attempt in range(self.max_attempts):
            started = time.monotonic()
            current, configmap, own = self._swap_base(namespace, dataset)
            if current is None:
                budget = next((item.budget for item in batch if item.budget is not None), None)
                if budget is None:
                    raise LedgerError(f"dataset {namespace}/{dataset} has no ledger yet")
                base = new_ledger(namespace, dataset, budget)
            else:
                base = current
            updated = base
            for item in batch:
                updated = item.apply(updated)
            updated = compact(updated, self.max_settled)
            if current is not None and updated == current:
                return current
            if current is None and all(item.error is not None for item in batch):
                return base  # nothing to keep: do not create an empty ledger for refusals
            try:
                if current is None:
                    self._create(updated)
                else:
                    self._replace(configmap, updated)
            except ApiException as error:
                if error.status == HTTP_NOT_FOUND and own:
                    continue  # deleted since this store wrote it: read, and create it again
                if error.status != HTTP_CONFLICT:
                    raise
                self._count_conflict()
                # Full jitter over a window that doubles per loss, in units of what one attempt
                # takes here: losers spread out over about as many cycles as there are writers.
                cycle = time.monotonic() - started
                ceiling = min(self.max_backoff_seconds, cycle * 2 ** min(attempt, 10))
                time.sleep(random.uniform(0, ceiling))  # noqa: S311 - jitter, not secrecy
                continue
            return updated
        raise LedgerContention(
            f"ledger of {namespace}/{dataset}: gave up after {self.max_attempts} conflicting writes"
        )

    def reserve(self, namespace: str, dataset: str, entry: LedgerEntry, budget: Budget) -> Ledger:
        return self.update(namespace, dataset, lambda led: reserve(led, entry, budget), budget)

    def charge(self, namespace: str, dataset: str, uid: str, at: datetime) -> Ledger:
        return self.update(namespace, dataset, lambda led: charge(led, uid, at))

    def settle(self, namespace: str, dataset: str, uid: str, at: datetime) -> Ledger:
        return self.update(namespace, dataset, lambda led: settle(led, uid, at))

    def release(self, namespace: str, dataset: str, uid: str, at: datetime) -> Ledger:
        return self.update(namespace, dataset, lambda led: release(led, uid, at))

    def finish(self, namespace: str, dataset: str, uid: str, at: datetime) -> Ledger:
        return self.update(namespace, dataset, lambda led: finish(led, uid, at))
