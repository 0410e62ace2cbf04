"""The ledger document: exact round trip, readable shape, one-line errors on damage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from voxgate.privacy import ledger_json
from voxgate.privacy.ledger import Budget, charge, new_entry, new_ledger, reserve, settle
from voxgate.privacy.ledger_json import LedgerFormatError
from voxgate.privacy.params import DPSGDParams

T0 = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)
LIMITS = Budget(8.0, 1e-5, {"asr-2026": 4.0})


def sample() -> Any:
    ledger = new_ledger("speech-data", "clean", LIMITS)
    for uid, params in (
        ("6f1c-a", DPSGDParams(1.1, 256 / 60000, 14063, 1e-5)),
        ("6f1c-b", DPSGDParams(0.9, 0.01, 300, 1e-6, max_grad_norm=0.5, accountant="pld")),
    ):
        entry = new_entry(
            uid, job_namespace="team-a", job_name=uid, grant="asr-2026", params=params, at=T0
        )
        ledger = reserve(ledger, entry, LIMITS)
    return settle(charge(ledger, "6f1c-a", T0 + timedelta(minutes=2)), "6f1c-a", T0)


def test_round_trip_is_exact() -> None:
    ledger = sample()
    assert ledger_json.loads(ledger_json.dumps(ledger)) == ledger


def test_document_shape() -> None:
    document = json.loads(ledger_json.dumps(sample()))
    assert document["schema"] == "voxgate.io/privacy-ledger/v1"
    assert document["dataset"] == {"namespace": "speech-data", "name": "clean"}
    assert document["budget"] == {"epsilon": 8.0, "delta": 1e-5, "grants": {"asr-2026": 4.0}}
    entry = document["entries"]["6f1c-a"]
    assert entry["job"] == {"namespace": "team-a", "name": "6f1c-a"}
    assert entry["state"] == "Settled"
    assert entry["reservedAt"] == "2026-05-01T08:30:00Z"
    assert entry["chargedAt"] == "2026-05-01T08:32:00Z"
    assert "releasedAt" not in entry
    assert entry["privacy"]["noiseMultiplier"] == 1.1 and entry["privacy"]["steps"] == 14063
    assert document["entries"]["6f1c-b"]["privacy"]["accountant"] == "pld"


def damage(path: list[str], value: object) -> str:
    document = json.loads(ledger_json.dumps(sample()))
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return json.dumps(document)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[]", "expected a JSON object"),
        (damage(["schema"], "v0"), "unknown schema"),
        (damage(["budget", "epsilon"], KeyError), "missing 'epsilon'"),
        (damage(["budget", "epsilon"], -1), "budget epsilon must be"),
        (damage(["entries", "6f1c-a", "state"], "Refunded"), "unknown state"),
        (damage(["entries", "6f1c-a", "reservedAt"], "yesterday"), "not an RFC 3339 time"),
        (damage(["entries", "6f1c-a", "privacy", "steps"], 0), "steps must be an integer"),
        (damage(["entries", "6f1c-a", "epsilon"], "3"), "unexpected value"),
        (damage(["compacted", "grants"], {"g": {"runs": 1}}), "missing 'events'"),
    ],
)
def test_damaged_documents_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(LedgerFormatError) as error:
        ledger_json.loads(text)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
