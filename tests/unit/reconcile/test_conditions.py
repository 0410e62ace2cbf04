from __future__ import annotations

import datetime

from voxgate.reconcile.conditions import condition, set_condition

T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
T1 = T0 + datetime.timedelta(minutes=5)


def test_transition_time_kept_while_status_holds_and_reset_when_it_flips() -> None:
    first = set_condition([], "Admitted", True, "Admitted", "ok", generation=1, now=T0)
    again = set_condition(first, "Admitted", True, "Admitted", "still ok", generation=2, now=T1)
    flipped = set_condition(
        again, "Admitted", False, "GrantRevoked", "stopped", generation=2, now=T1
    )
    assert condition(again, "Admitted") == {
        "type": "Admitted",
        "status": "True",
        "observedGeneration": 2,
        "lastTransitionTime": "2030-01-01T00:00:00Z",
        "reason": "Admitted",
        "message": "still ok",
    }
    flipped_admitted = condition(flipped, "Admitted")
    assert flipped_admitted is not None
    assert flipped_admitted["lastTransitionTime"] == "2030-01-01T00:05:00Z"


def test_conditions_stay_sorted_and_unique_by_type() -> None:
    conditions = set_condition([], "Running", False, "NotStarted", "", generation=1, now=T0)
    conditions = set_condition(conditions, "Admitted", True, "Admitted", "", generation=1, now=T0)
    conditions = set_condition(conditions, "Running", True, "Running", "", generation=1, now=T0)
    assert [c["type"] for c in conditions] == ["Admitted", "Running"]
    running = condition(conditions, "Running")
    assert running is not None and running["status"] == "True"


def test_unknown_status() -> None:
    conditions = set_condition([], "Admitted", None, "PolicyUnavailable", "", generation=1, now=T0)
    assert conditions[0]["status"] == "Unknown"
