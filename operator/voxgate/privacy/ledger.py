"""The per-dataset privacy ledger: every reservation and charge, and what the dataset has left.

Pure: the operator reads the ledger document, applies one of these functions and writes the result
back with compare-and-swap (store.py). Every function returns a new Ledger and is idempotent per
TrainingJob uid, because kopf handlers run at least once.

Entry states (keyed by TrainingJob uid):

    Reserved --charge--> Charged --settle--> Settled      (data released: the loss is permanent)
    Reserved --release-> Released                          (the job never received data: refunded)

Composition: what a dataset has spent is the epsilon of all its runs composed in one accountant
at the dataset's delta (not the sum of their epsilons). The ledger always composes with RDP:
RDP composition depends only on how many steps each distinct (noise, sample rate) mechanism ran,
which is what makes compaction exact (see `compact`). A run's own epsilon, shown per entry, uses
the accountant the job asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TypedDict

from voxgate.privacy.accountant import composed_epsilon, epsilon, merge_events
from voxgate.privacy.params import (
    DPSGDParams,
    SampledGaussianEvent,
    SampledGaussianRun,
    check_delta,
    check_positive,
)

DEFAULT_MAX_SETTLED = 200


class EntryState(StrEnum):
    RESERVED = "Reserved"
    CHARGED = "Charged"
    SETTLED = "Settled"
    RELEASED = "Released"


class LedgerError(ValueError):
    """A ledger operation was refused; the message is one line."""


class BudgetExceeded(LedgerError):
    """The reservation would take the dataset or the grant over its epsilon."""


class InvalidTransition(LedgerError):
    """The entry is in a state that does not allow this operation."""


class UnknownEntry(LedgerError):
    """No entry for this TrainingJob uid."""


@dataclass(frozen=True)
class Budget:
    """The dataset's total (epsilon, delta) and each grant's epsilon allowance out of it."""

    epsilon: float
    delta: float
    grants: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "epsilon", check_positive("budget epsilon", self.epsilon))
        object.__setattr__(self, "delta", check_delta("budget delta", self.delta))
        allowances = {
            name: check_positive(f"grant {name} epsilon", value)
            for name, value in self.grants.items()
        }
        object.__setattr__(self, "grants", allowances)


@dataclass(frozen=True)
class LedgerEntry:
    uid: str
    job_namespace: str
    job_name: str
    grant: str
    params: DPSGDParams
    epsilon: float
    reserved_at: datetime
    state: EntryState = EntryState.RESERVED
    charged_at: datetime | None = None
    settled_at: datetime | None = None
    released_at: datetime | None = None

    @property
    def delta(self) -> float:
        return self.params.delta

    @property
    def job(self) -> str:
        return f"{self.job_namespace}/{self.job_name}"

    @property
    def counts_as_spent(self) -> bool:
        return self.state in (EntryState.CHARGED, EntryState.SETTLED)


@dataclass(frozen=True)
class GrantHistory:
    """The settled runs of one grant that compaction folded: their events and their plain sum."""

    runs: int = 0
    epsilon_sum: float = 0.0
    events: tuple[SampledGaussianEvent, ...] = ()


@dataclass(frozen=True)
class CompactedHistory:
    """Folded terminal entries. The uids stay so that a late, repeated handler call is still a
    no-op instead of a second reservation (about 40 bytes per job in the document)."""

    settled_uids: frozenset[str] = frozenset()
    released_uids: frozenset[str] = frozenset()
    grants: Mapping[str, GrantHistory] = field(default_factory=dict)

    @property
    def events(self) -> tuple[SampledGaussianEvent, ...]:
        return merge_events(event for history in self.grants.values() for event in history.events)


@dataclass(frozen=True)
class Ledger:
    dataset_namespace: str
    dataset_name: str
    budget: Budget
    entries: tuple[LedgerEntry, ...] = ()
    compacted: CompactedHistory = field(default_factory=CompactedHistory)

    @property
    def dataset(self) -> str:
        return f"{self.dataset_namespace}/{self.dataset_name}"

    def entry(self, uid: str) -> LedgerEntry | None:
        return next((entry for entry in self.entries if entry.uid == uid), None)


def new_ledger(dataset_namespace: str, dataset_name: str, budget: Budget) -> Ledger:
    return Ledger(dataset_namespace, dataset_name, budget)


def new_entry(
    uid: str,
    *,
    job_namespace: str,
    job_name: str,
    grant: str,
    params: DPSGDParams,
    at: datetime,
) -> LedgerEntry:
    """A Reserved entry for a TrainingJob, priced with the accountant the job asked for."""
    return LedgerEntry(uid, job_namespace, job_name, grant, params, epsilon(params), at)


def _committed_runs(ledger: Ledger, grant: str | None = None) -> list[SampledGaussianRun]:
    """Spent and reserved runs (all but released), optionally of one grant only."""
    runs: list[SampledGaussianRun] = [
        entry.params
        for entry in ledger.entries
        if entry.state != EntryState.RELEASED and grant in (None, entry.grant)
    ]
    if grant is None:
        runs.extend(ledger.compacted.events)
    elif grant in ledger.compacted.grants:
        runs.extend(ledger.compacted.grants[grant].events)
    return runs


def epsilon_after(
    ledger: Ledger | None, params: DPSGDParams, delta: float, grant: str | None = None
) -> float:
    """The composed epsilon at `delta` if a run with `params` joined the committed runs (of
    `grant` only, when given): what admission compares with the budget, since privacy loss
    composes sub-additively and a job's standalone epsilon overstates what it adds."""
    committed = _committed_runs(ledger, grant) if ledger is not None else []
    return composed_epsilon([*committed, params], delta)


def reserve(ledger: Ledger, entry: LedgerEntry, budget: Budget) -> Ledger:
    """Add a Reserved entry if the composed total stays within the dataset and grant budgets.

    Reserved runs count as spent for admission, so concurrent jobs can never overspend.
    Re-reserving a uid the ledger already holds returns the ledger unchanged.
    """
    existing = ledger.entry(entry.uid)
    if existing is not None:
        if (existing.params, existing.grant) != (entry.params, entry.grant):
            raise InvalidTransition(
                f"TrainingJob {entry.job} (uid {entry.uid}) is already in the ledger of "
                f"{ledger.dataset} with other DP parameters or another grant"
            )
        return ledger
    if entry.uid in ledger.compacted.settled_uids | ledger.compacted.released_uids:
        return ledger
    if entry.state != EntryState.RESERVED:
        raise InvalidTransition(f"a new ledger entry must be Reserved, not {entry.state}")

    allowance = budget.grants.get(entry.grant)
    if allowance is None:
        raise BudgetExceeded(
            f"grant {entry.grant} has no epsilon allowance on dataset {ledger.dataset}"
        )
    dataset_total = epsilon_after(ledger, entry.params, budget.delta)
    if dataset_total > budget.epsilon:
        raise BudgetExceeded(
            f"dataset {ledger.dataset}: job {entry.job} would bring the composed epsilon to "
            f"{dataset_total:.4g}, over the budget of {budget.epsilon:g} at delta {budget.delta:g}"
        )
    grant_total = epsilon_after(ledger, entry.params, budget.delta, entry.grant)
    if grant_total > allowance:
        raise BudgetExceeded(
            f"grant {entry.grant}: job {entry.job} would bring its composed epsilon to "
            f"{grant_total:.4g}, over its allowance of {allowance:g}"
        )
    return replace(ledger, budget=budget, entries=(*ledger.entries, entry))


def _with_entry(ledger: Ledger, updated: LedgerEntry) -> Ledger:
    entries = tuple(updated if entry.uid == updated.uid else entry for entry in ledger.entries)
    return replace(ledger, entries=entries)


def _lookup(ledger: Ledger, uid: str) -> LedgerEntry:
    entry = ledger.entry(uid)
    if entry is None:
        raise UnknownEntry(f"no ledger entry for TrainingJob uid {uid} on {ledger.dataset}")
    return entry


def charge(ledger: Ledger, uid: str, at: datetime) -> Ledger:
    """Data was released to the job: its reservation becomes a permanent charge."""
    if uid in ledger.compacted.settled_uids:
        return ledger
    if uid in ledger.compacted.released_uids:
        raise InvalidTransition(f"TrainingJob uid {uid} was released (refunded); cannot charge")
    entry = _lookup(ledger, uid)
    if entry.state == EntryState.RESERVED:
        return _with_entry(ledger, replace(entry, state=EntryState.CHARGED, charged_at=at))
    if entry.state == EntryState.RELEASED:
        raise InvalidTransition(
            f"TrainingJob {entry.job} was released (refunded); cannot charge it: reserve anew"
        )
    return ledger


def settle(ledger: Ledger, uid: str, at: datetime) -> Ledger:
    """The charged job ended: its charge stays, the entry is final."""
    if uid in ledger.compacted.settled_uids:
        return ledger
    entry = _lookup(ledger, uid)
    if entry.state == EntryState.CHARGED:
        return _with_entry(ledger, replace(entry, state=EntryState.SETTLED, settled_at=at))
    if entry.state == EntryState.SETTLED:
        return ledger
    raise InvalidTransition(
        f"TrainingJob {entry.job} is {entry.state}, not Charged: only a charged entry settles "
        "(release a reservation whose job never received data)"
    )


def release(ledger: Ledger, uid: str, at: datetime) -> Ledger:
    """The job never received data: its reservation is refunded. Refused once charged."""
    if uid in ledger.compacted.released_uids:
        return ledger
    if uid in ledger.compacted.settled_uids:
        raise InvalidTransition(
            f"TrainingJob uid {uid} was charged: privacy loss is permanent, never refunded"
        )
    entry = _lookup(ledger, uid)
    if entry.state == EntryState.RESERVED:
        return _with_entry(ledger, replace(entry, state=EntryState.RELEASED, released_at=at))
    if entry.state == EntryState.RELEASED:
        return ledger
    raise InvalidTransition(
        f"TrainingJob {entry.job} was charged: privacy loss is permanent, never refunded"
    )


def finish(ledger: Ledger, uid: str, at: datetime) -> Ledger:
    """The job is over (done, failed, deleted, revoked): settle a charge, release a reservation."""
    if uid in ledger.compacted.settled_uids | ledger.compacted.released_uids:
        return ledger
    entry = _lookup(ledger, uid)
    if entry.state == EntryState.RESERVED:
        return release(ledger, uid, at)
    if entry.state == EntryState.CHARGED:
        return settle(ledger, uid, at)
    return ledger


def with_budget(ledger: Ledger, budget: Budget) -> Ledger:
    """Record the dataset's current budget (a steward may change it; history is kept)."""
    return ledger if ledger.budget == budget else replace(ledger, budget=budget)


def compact(ledger: Ledger, max_settled: int = DEFAULT_MAX_SETTLED) -> Ledger:
    """When more than `max_settled` entries are settled, fold every terminal entry.

    Exact by construction: composition only ever sees `merge_events` of the runs, the number of
    steps per distinct (noise, sample rate), and folding keeps exactly those integer step counts
    per grant. Before and after compaction the accountant gets the same events, so the composed
    totals are bit-for-bit equal. Released entries carry no cost and keep only their uid.
    """
    settled = [entry for entry in ledger.entries if entry.state == EntryState.SETTLED]
    if len(settled) <= max_settled:
        return ledger
    released = [entry for entry in ledger.entries if entry.state == EntryState.RELEASED]
    grants = dict(ledger.compacted.grants)
    for name in sorted({entry.grant for entry in settled}):
        folded = [entry for entry in settled if entry.grant == name]
        previous = grants.get(name, GrantHistory())
        grants[name] = GrantHistory(
            runs=previous.runs + len(folded),
            epsilon_sum=math.fsum([previous.epsilon_sum, *(entry.epsilon for entry in folded)]),
            events=merge_events([*previous.events, *(entry.params for entry in folded)]),
        )
    compacted = CompactedHistory(
        settled_uids=ledger.compacted.settled_uids | {entry.uid for entry in settled},
        released_uids=ledger.compacted.released_uids | {entry.uid for entry in released},
        grants=grants,
    )
    kept = tuple(
        entry
        for entry in ledger.entries
        if entry.state not in (EntryState.SETTLED, EntryState.RELEASED)
    )
    return replace(ledger, entries=kept, compacted=compacted)


class GrantSummary(TypedDict):
    epsilonAllowance: float | None
    epsilonUsed: float
    epsilonReserved: float
    epsilonRemaining: float | None


class RunCounts(TypedDict):
    reserved: int
    charged: int
    settled: int
    released: int


class LedgerSummary(TypedDict):
    epsilonTotal: float
    epsilonSpent: float
    epsilonReserved: float
    epsilonRemaining: float
    delta: float
    epsilonSpentSum: float
    runs: RunCounts
    grants: dict[str, GrantSummary]


def _spent_and_committed(
    ledger: Ledger, entries: Iterable[LedgerEntry], folded: Iterable[SampledGaussianEvent]
) -> tuple[float, float]:
    active = [entry for entry in entries if entry.state != EntryState.RELEASED]
    spent_runs: list[SampledGaussianRun] = [e.params for e in active if e.counts_as_spent]
    spent_runs.extend(folded)
    reserved_runs = [e.params for e in active if not e.counts_as_spent]
    delta = ledger.budget.delta
    spent = composed_epsilon(spent_runs, delta)
    committed = composed_epsilon([*spent_runs, *reserved_runs], delta) if reserved_runs else spent
    return spent, committed


def summary(ledger: Ledger) -> LedgerSummary:
    """What the dataset has spent, holds in reservation and has left, composed at its delta.

    epsilonReserved is what the reservations add on top of the spent runs under composition, so
    spent + reserved + remaining == total while the budget holds.
    """
    spent, committed = _spent_and_committed(ledger, ledger.entries, ledger.compacted.events)
    grants: dict[str, GrantSummary] = {}
    names = {*ledger.budget.grants, *ledger.compacted.grants, *(e.grant for e in ledger.entries)}
    for name in sorted(names):
        history = ledger.compacted.grants.get(name, GrantHistory())
        own = [entry for entry in ledger.entries if entry.grant == name]
        used, grant_committed = _spent_and_committed(ledger, own, history.events)
        allowance = ledger.budget.grants.get(name)
        grants[name] = {
            "epsilonAllowance": allowance,
            "epsilonUsed": used,
            "epsilonReserved": max(0.0, grant_committed - used),
            "epsilonRemaining": None
            if allowance is None
            else max(0.0, allowance - grant_committed),
        }
    states = [entry.state for entry in ledger.entries]
    spent_sum = math.fsum(
        [
            *(history.epsilon_sum for history in ledger.compacted.grants.values()),
            *(entry.epsilon for entry in ledger.entries if entry.counts_as_spent),
        ]
    )
    return {
        "epsilonTotal": ledger.budget.epsilon,
        "epsilonSpent": spent,
        "epsilonReserved": max(0.0, committed - spent),
        "epsilonRemaining": max(0.0, ledger.budget.epsilon - committed),
        "delta": ledger.budget.delta,
        "epsilonSpentSum": spent_sum,
        "runs": {
            "reserved": states.count(EntryState.RESERVED),
            "charged": states.count(EntryState.CHARGED),
            "settled": states.count(EntryState.SETTLED) + len(ledger.compacted.settled_uids),
            "released": states.count(EntryState.RELEASED) + len(ledger.compacted.released_uids),
        },
        "grants": grants,
    }
