"""The ledger's state machine: Reserved -> Charged -> Settled, Reserved -> Released."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from voxgate.privacy.accountant import composed_epsilon, epsilon
from voxgate.privacy.ledger import (
    Budget,
    BudgetExceeded,
    EntryState,
    InvalidTransition,
    Ledger,
    LedgerEntry,
    UnknownEntry,
    charge,
    compact,
    finish,
    new_entry,
    new_ledger,
    release,
    reserve,
    settle,
    summary,
    with_budget,
)
from voxgate.privacy.params import DPSGDParams

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
DELTA = 1e-5
SMALL = DPSGDParams(1.1, 0.004, 1_000, DELTA)
LARGE = DPSGDParams(0.9, 0.01, 5_000, DELTA)


def job(uid: str, params: DPSGDParams = SMALL, grant: str = "g1") -> LedgerEntry:
    return new_entry(
        uid, job_namespace="team-a", job_name=f"train-{uid}", grant=grant, params=params, at=T0
    )


def budget(total: float = 10.0, **grants: float) -> Budget:
    return Budget(total, DELTA, grants or {"g1": total})


def fresh(total: float = 10.0, **grants: float) -> Ledger:
    return new_ledger("speech-data", "clean", budget(total, **grants))


def test_the_happy_path_and_its_timestamps() -> None:
    ledger = reserve(fresh(), job("a"), budget())
    reserved = ledger.entry("a")
    assert reserved is not None and reserved.state == EntryState.RESERVED
    ledger = charge(ledger, "a", T0 + timedelta(minutes=1))
    ledger = settle(ledger, "a", T0 + timedelta(hours=1))
    entry = ledger.entry("a")
    assert entry is not None
    assert entry.state == EntryState.SETTLED
    assert (entry.charged_at, entry.settled_at) == (
        T0 + timedelta(minutes=1),
        T0 + timedelta(hours=1),
    )
    assert entry.epsilon == epsilon(SMALL)


def test_reserve_is_idempotent_per_uid() -> None:
    once = reserve(fresh(), job("a"), budget())
    assert reserve(once, job("a"), budget()) is once
    charged = charge(once, "a", T0)
    assert reserve(charged, job("a"), budget()) is charged


def test_re_reserving_a_uid_with_other_parameters_is_refused() -> None:
    once = reserve(fresh(), job("a"), budget())
    with pytest.raises(InvalidTransition, match="other DP parameters"):
        reserve(once, job("a", LARGE), budget())


def test_every_transition_is_idempotent() -> None:
    ledger = reserve(fresh(), job("a"), budget())
    charged = charge(ledger, "a", T0)
    assert charge(charged, "a", T0 + timedelta(seconds=5)) is charged
    settled = settle(charged, "a", T0)
    assert settle(settled, "a", T0) is settled
    assert charge(settled, "a", T0) is settled
    released = release(ledger, "a", T0)
    assert release(released, "a", T0) is released


def test_a_charge_is_never_refunded() -> None:
    charged = charge(reserve(fresh(), job("a"), budget()), "a", T0)
    with pytest.raises(InvalidTransition, match="privacy loss is permanent"):
        release(charged, "a", T0)
    with pytest.raises(InvalidTransition, match="privacy loss is permanent"):
        release(settle(charged, "a", T0), "a", T0)


def test_a_released_reservation_cannot_be_charged_or_settled() -> None:
    released = release(reserve(fresh(), job("a"), budget()), "a", T0)
    with pytest.raises(InvalidTransition, match="released"):
        charge(released, "a", T0)
    with pytest.raises(InvalidTransition, match="not Charged"):
        settle(released, "a", T0)


def test_settle_needs_a_charge() -> None:
    with pytest.raises(InvalidTransition, match="release a reservation"):
        settle(reserve(fresh(), job("a"), budget()), "a", T0)


def test_unknown_uids() -> None:
    with pytest.raises(UnknownEntry, match="no ledger entry for TrainingJob uid zz"):
        charge(fresh(), "zz", T0)
    with pytest.raises(UnknownEntry):
        release(fresh(), "zz", T0)


def test_finish_settles_a_charge_and_releases_a_reservation() -> None:
    ledger = reserve(reserve(fresh(), job("a"), budget()), job("b"), budget())
    ledger = finish(finish(charge(ledger, "a", T0), "a", T0), "b", T0)
    assert [e.state for e in ledger.entries] == [EntryState.SETTLED, EntryState.RELEASED]
    assert finish(ledger, "a", T0) is ledger


def test_budget_exceeded_counts_reservations_and_composes() -> None:
    fits_two = composed_epsilon([SMALL, SMALL], DELTA)
    ledger = reserve(fresh(fits_two), job("a"), budget(fits_two))
    ledger = reserve(ledger, job("b"), budget(fits_two))
    # Two runs fit: their composed epsilon is well below twice one run's epsilon.
    assert fits_two < 2 * epsilon(SMALL)
    with pytest.raises(BudgetExceeded) as error:
        reserve(ledger, job("c"), budget(fits_two))
    assert "over the budget" in str(error.value) and "\n" not in str(error.value)
    # A release frees its share again; a charge does not.
    released = release(ledger, "b", T0)
    assert reserve(released, job("c"), budget(fits_two)).entry("c") is not None
    with pytest.raises(BudgetExceeded):
        reserve(charge(ledger, "b", T0), job("c"), budget(fits_two))


def test_grant_allowance_is_enforced_separately() -> None:
    one_run = epsilon(SMALL) * 1.0001
    limits = budget(10.0, g1=one_run, g2=5.0)
    ledger = reserve(fresh(), job("a", grant="g1"), limits)
    with pytest.raises(BudgetExceeded, match="grant g1"):
        reserve(ledger, job("b", grant="g1"), limits)
    assert reserve(ledger, job("b", grant="g2"), limits).entry("b") is not None
    with pytest.raises(BudgetExceeded, match="grant g3 has no epsilon allowance"):
        reserve(ledger, job("c", grant="g3"), limits)


def test_summary_adds_up() -> None:
    limits = budget(10.0, g1=6.0, g2=6.0)
    ledger = fresh()
    for uid, grant in (("a", "g1"), ("b", "g1"), ("c", "g2"), ("d", "g2")):
        ledger = reserve(ledger, job(uid, grant=grant), limits)
    ledger = settle(charge(ledger, "a", T0), "a", T0)
    ledger = charge(ledger, "c", T0)
    ledger = release(ledger, "d", T0)
    totals = summary(ledger)
    assert totals["epsilonSpent"] == composed_epsilon([SMALL, SMALL], DELTA)
    committed = composed_epsilon([SMALL] * 3, DELTA)
    assert totals["epsilonReserved"] == pytest.approx(committed - totals["epsilonSpent"])
    assert totals["epsilonSpent"] + totals["epsilonReserved"] + totals[
        "epsilonRemaining"
    ] == pytest.approx(10.0)
    assert totals["epsilonSpentSum"] == pytest.approx(2 * epsilon(SMALL))
    assert totals["runs"] == {"reserved": 1, "charged": 1, "settled": 1, "released": 1}
    assert totals["grants"]["g1"]["epsilonUsed"] == epsilon(SMALL)
    assert totals["grants"]["g2"]["epsilonReserved"] == 0.0  # d was released
    assert totals["grants"]["g2"]["epsilonRemaining"] == pytest.approx(6.0 - epsilon(SMALL))
    assert (totals["epsilonTotal"], totals["delta"]) == (10.0, DELTA)


def test_a_new_budget_is_recorded() -> None:
    ledger = fresh()
    assert with_budget(ledger, budget()) is ledger
    assert with_budget(ledger, budget(20.0)).budget.epsilon == 20.0
    bigger = reserve(ledger, job("a"), budget(30.0))
    assert bigger.budget.epsilon == 30.0


PARAMS = [SMALL, LARGE, DPSGDParams(2.0, 0.02, 2_000, 1e-6)]


class LedgerMachine(RuleBasedStateMachine):
    """Random reserve/charge/settle/release/compact sequences never overspend or un-charge."""

    def __init__(self) -> None:
        super().__init__()
        self.limits = Budget(6.0, DELTA, {"g1": 4.0, "g2": 4.0})
        self.ledger = new_ledger("speech-data", "clean", self.limits)
        self.ever_charged: set[str] = set()
        self.next_uid = 0

    @rule(params=st.sampled_from(PARAMS), grant=st.sampled_from(["g1", "g2"]))
    def reserve_one(self, params: DPSGDParams, grant: str) -> None:
        self.next_uid += 1
        with contextlib.suppress(BudgetExceeded):
            self.ledger = reserve(self.ledger, job(f"u{self.next_uid}", params, grant), self.limits)

    def _uids(self, state: EntryState) -> list[str]:
        return [e.uid for e in self.ledger.entries if e.state == state]

    @precondition(lambda self: self._uids(EntryState.RESERVED))
    @rule(data=st.data())
    def charge_one(self, data: st.DataObject) -> None:
        uid = data.draw(st.sampled_from(self._uids(EntryState.RESERVED)))
        self.ledger = charge(self.ledger, uid, T0)
        self.ever_charged.add(uid)

    @precondition(lambda self: self._uids(EntryState.CHARGED))
    @rule(data=st.data())
    def settle_one(self, data: st.DataObject) -> None:
        uid = data.draw(st.sampled_from(self._uids(EntryState.CHARGED)))
        self.ledger = settle(self.ledger, uid, T0)

    @precondition(lambda self: self._uids(EntryState.RESERVED))
    @rule(data=st.data())
    def release_one(self, data: st.DataObject) -> None:
        uid = data.draw(st.sampled_from(self._uids(EntryState.RESERVED)))
        self.ledger = release(self.ledger, uid, T0)

    @precondition(lambda self: self.ever_charged)
    @rule(data=st.data())
    def try_to_refund_a_charge(self, data: st.DataObject) -> None:
        uid = data.draw(st.sampled_from(sorted(self.ever_charged)))
        with pytest.raises(InvalidTransition):
            release(self.ledger, uid, T0)

    @rule(keep=st.integers(min_value=0, max_value=3))
    def compact_some(self, keep: int) -> None:
        before = dict(summary(self.ledger))
        self.ledger = compact(self.ledger, keep)
        after = dict(summary(self.ledger))
        # Composed totals are exact across compaction; the plain sum is a float sum.
        assert after.pop("epsilonSpentSum") == pytest.approx(before.pop("epsilonSpentSum"))
        assert after == before

    @invariant()
    def never_over_budget(self) -> None:
        totals = summary(self.ledger)
        assert totals["epsilonSpent"] + totals["epsilonReserved"] <= self.limits.epsilon
        for grant in totals["grants"].values():
            assert grant["epsilonUsed"] + grant["epsilonReserved"] <= 4.0 + 1e-12

    @invariant()
    def charges_stay(self) -> None:
        settled = self.ledger.compacted.settled_uids
        for uid in self.ever_charged:
            entry = self.ledger.entry(uid)
            assert uid in settled or (entry is not None and entry.counts_as_spent)


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
