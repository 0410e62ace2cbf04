"""Compaction folds settled runs into per-grant event counts and loses nothing that composes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from voxgate.privacy import ledger_json
from voxgate.privacy.accountant import composed_epsilon
from voxgate.privacy.ledger import (
    Budget,
    EntryState,
    InvalidTransition,
    Ledger,
    charge,
    compact,
    finish,
    new_entry,
    new_ledger,
    release,
    reserve,
    settle,
    summary,
)
from voxgate.privacy.params import DPSGDParams

T0 = datetime(2026, 5, 1, tzinfo=UTC)
DELTA = 1e-5
LIMITS = Budget(1000.0, DELTA, {"asr": 600.0, "tts": 600.0})
# A mix of mechanisms, some repeated, some differing only in steps or delta.
MIX = [
    DPSGDParams(1.1, 0.004, 1_000, 1e-5),
    DPSGDParams(1.1, 0.004, 3_000, 1e-6),
    DPSGDParams(0.8, 0.01, 500, 1e-5),
    DPSGDParams(2.0, 0.05, 2_000, 1e-5, accountant="pld"),
    DPSGDParams(1.1, 0.008, 1_000, 1e-5),
]


def busy_ledger(runs: int = 24, compact_to: int | None = None) -> Ledger:
    """Runs in every state across two grants: settled, charged, reserved and released.

    With `compact_to`, the ledger is compacted after every run, as the store does.
    """
    ledger = new_ledger("speech-data", "clean", LIMITS)
    for index, params in zip(range(runs), itertools.cycle(MIX), strict=False):
        uid = f"uid-{index:03d}"
        grant = "asr" if index % 3 else "tts"
        entry = new_entry(
            uid, job_namespace="team", job_name=f"j{index}", grant=grant, params=params, at=T0
        )
        ledger = reserve(ledger, entry, LIMITS)
        if index % 7 == 6:
            ledger = release(ledger, uid, T0)
        elif index % 5 != 4:
            ledger = charge(ledger, uid, T0)
            if index % 4 != 3:
                ledger = settle(ledger, uid, T0)
        if compact_to is not None:
            ledger = compact(ledger, compact_to)
    return ledger


def composed_by_grant(ledger: Ledger) -> dict[str, tuple[float, float, float | None]]:
    return {
        name: (grant["epsilonUsed"], grant["epsilonReserved"], grant["epsilonRemaining"])
        for name, grant in summary(ledger)["grants"].items()
    }


def test_composed_totals_are_exactly_equal_after_compaction() -> None:
    before = busy_ledger()
    after = compact(before, max_settled=3)
    assert len(after.entries) < len(before.entries)
    assert all(e.state in (EntryState.RESERVED, EntryState.CHARGED) for e in after.entries)
    totals_before, totals_after = summary(before), summary(after)
    for key in ("epsilonSpent", "epsilonReserved", "epsilonRemaining", "epsilonTotal", "delta"):
        assert totals_after[key] == totals_before[key], key  # bit for bit, not approximately
    assert totals_after["runs"] == totals_before["runs"]
    assert composed_by_grant(after) == composed_by_grant(before)
    # The plain sum is a float sum of per-run epsilons: equal up to rounding.
    assert totals_after["epsilonSpentSum"] == pytest.approx(totals_before["epsilonSpentSum"])


def test_compacting_as_the_history_grows_is_still_exact() -> None:
    full = busy_ledger(40)
    folded_often = busy_ledger(40, compact_to=2)
    assert folded_often.compacted.settled_uids
    for key in ("epsilonSpent", "epsilonReserved", "epsilonRemaining"):
        assert summary(folded_often)[key] == summary(full)[key], key
    assert composed_by_grant(folded_often) == composed_by_grant(full)


def test_the_folded_events_compose_to_the_settled_runs() -> None:
    before = busy_ledger()
    settled = [e.params for e in before.entries if e.state == EntryState.SETTLED]
    after = compact(before, max_settled=0)
    assert composed_epsilon(after.compacted.events, DELTA) == composed_epsilon(settled, DELTA)
    # Identical mechanisms were merged: fewer events than runs, same total step count.
    assert len(after.compacted.events) < len(settled)
    assert sum(e.steps for e in after.compacted.events) == sum(p.steps for p in settled)
    runs = sum(history.runs for history in after.compacted.grants.values())
    assert runs == len(settled) == len(after.compacted.settled_uids)


def test_below_the_threshold_nothing_happens() -> None:
    ledger = busy_ledger()
    settled = sum(e.state == EntryState.SETTLED for e in ledger.entries)
    assert compact(ledger, max_settled=settled) is ledger
    assert compact(ledger, max_settled=settled - 1) is not ledger


def test_folded_uids_keep_handlers_idempotent() -> None:
    before = busy_ledger()
    after = compact(before, max_settled=0)
    settled = next(e for e in before.entries if e.state == EntryState.SETTLED)
    released = next(e for e in before.entries if e.state == EntryState.RELEASED)
    assert reserve(after, settled, LIMITS) is after  # no second reservation for a late retry
    assert reserve(after, released, LIMITS) is after
    assert charge(after, settled.uid, T0) is after
    assert settle(after, settled.uid, T0) is after
    assert finish(after, settled.uid, T0) is after
    assert release(after, released.uid, T0) is after
    with pytest.raises(InvalidTransition, match="permanent"):
        release(after, settled.uid, T0)
    with pytest.raises(InvalidTransition, match="released"):
        charge(after, released.uid, T0)


def test_compacted_ledger_survives_json_exactly() -> None:
    after = compact(busy_ledger(), max_settled=0)
    again = ledger_json.loads(ledger_json.dumps(after))
    assert again == after
    assert summary(again) == summary(after)
