"""The policy's view of the ledger: composed figures, and a job never counted against itself."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from voxgate.privacy import ledger as ledgers
from voxgate.privacy.accountant import composed_epsilon
from voxgate.privacy.params import DPSGDParams
from voxgate.reconcile.decide import World, ledger_view

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
PARAMS = DPSGDParams(
    noise_multiplier=1.1, sample_rate=0.01, steps=200, delta=1e-6, max_grad_norm=1.0
)
DATASET: dict[str, Any] = {
    "metadata": {"name": "calls", "namespace": "data"},
    "spec": {"privacy": {"budget": {"epsilon": 10.0, "delta": 1e-6}}},
}
GRANT: dict[str, Any] = {"metadata": {"name": "g"}, "spec": {"privacy": {"epsilon": 5.0}}}


def _ledger_with(*uids: str) -> ledgers.Ledger:
    budget = ledgers.Budget(10.0, 1e-6, {"g": 5.0})
    ledger = ledgers.new_ledger("data", "calls", budget)
    for uid in uids:
        entry = ledgers.new_entry(
            uid, job_namespace="team", job_name=uid, grant="g", params=PARAMS, at=NOW
        )
        ledger = ledgers.reserve(ledger, entry, budget)
    return ledger


def test_epsilon_after_composes_the_committed_runs_with_this_job() -> None:
    view = ledger_view(World(DATASET, grants=(GRANT,), ledger=_ledger_with("a", "b")), PARAMS, "c")
    assert view.epsilon_after == pytest.approx(composed_epsilon([PARAMS] * 3, 1e-6))
    assert view.grants["g"].epsilon_after == pytest.approx(composed_epsilon([PARAMS] * 3, 1e-6))
    assert view.epsilon_after is not None
    assert view.epsilon_after < 3 * composed_epsilon([PARAMS], 1e-6)  # sub-additive


def test_a_job_re_decided_after_reserving_is_not_counted_twice() -> None:
    world = World(DATASET, grants=(GRANT,), ledger=_ledger_with("a", "b"))
    again = ledger_view(world, PARAMS, "b")
    assert again.epsilon_after == pytest.approx(composed_epsilon([PARAMS] * 2, 1e-6))


def test_no_dp_no_composed_figure() -> None:
    assert ledger_view(World(DATASET, grants=(GRANT,)), None, "a").epsilon_after is None
