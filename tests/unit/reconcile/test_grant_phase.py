from __future__ import annotations

import datetime
from typing import Any

import pytest

from voxgate.reconcile.datagrant import grant_phase, grant_status

NOW = datetime.datetime(2030, 6, 1, tzinfo=datetime.UTC)


def _grant(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"approved": True, "datasetRef": {"name": "calls"}}
    base.update(spec)
    return {"metadata": {"name": "g", "namespace": "data", "generation": 3}, "spec": base}


@pytest.mark.parametrize(
    ("spec", "phase", "reason", "next_change"),
    [
        ({}, "Active", "Active", None),
        ({"expiresAt": "2031-01-01T00:00:00Z"}, "Active", "Active", "2031-01-01T00:00:00+00:00"),
        (
            {"validFrom": "2030-07-01T00:00:00Z"},
            "Pending",
            "NotYetValid",
            "2030-07-01T00:00:00+00:00",
        ),
        ({"approved": False}, "Pending", "NotApproved", None),
        ({"expiresAt": "2030-05-01T00:00:00Z"}, "Expired", "Expired", None),
        ({"revoked": True, "expiresAt": "2030-05-01T00:00:00Z"}, "Revoked", "Revoked", None),
    ],
)
def test_phase_follows_time_and_flags(
    spec: dict[str, Any], phase: str, reason: str, next_change: str | None
) -> None:
    result = grant_phase(_grant(**spec), NOW)
    assert (result.phase, result.reason) == (phase, reason)
    assert (result.next_change.isoformat() if result.next_change else None) == next_change


def test_status_records_approver_use_and_condition() -> None:
    grant = _grant()
    grant["metadata"]["annotations"] = {
        "voxgate.io/approved-by": '{"username": "steward@example.org", "groups": []}'
    }
    status = grant_status(grant, grant_phase(grant, NOW), {"epsilonUsed": 0.5}, NOW)
    assert status["phase"] == "Active"
    assert status["approvedBy"] == "steward@example.org"
    assert status["epsilonUsed"] == 0.5 and status["epsilonReserved"] == 0.0
    assert status["observedGeneration"] == 3
    assert (
        status["conditions"][0]["type"] == "Active" and status["conditions"][0]["status"] == "True"
    )
