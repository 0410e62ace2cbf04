"""The ledger as a JSON document (ConfigMap `voxgate-ledger-<dataset>`, key `ledger.json`).

    {"schema": "voxgate.io/privacy-ledger/v1",
     "dataset": {"namespace", "name"},
     "budget": {"epsilon", "delta", "grants": {name: epsilon}},
     "entries": {uid: {"job": {"namespace", "name"}, "grant", "privacy": {TrainingJob.spec.privacy},
                       "epsilon", "delta", "state", "reservedAt", "chargedAt"?, "settledAt"?,
                       "releasedAt"?}},
     "compacted": {"settledUids": [...], "releasedUids": [...],
                   "grants": {name: {"runs", "epsilonSum",
                                     "events": [{"noiseMultiplier", "sampleRate", "steps"}]}}}}

Floats are written with Python's shortest round-trip repr, so a document read back composes to
the very same numbers. Anything malformed raises LedgerFormatError with one line naming the place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from voxgate.privacy.ledger import (
    Budget,
    CompactedHistory,
    EntryState,
    GrantHistory,
    Ledger,
    LedgerEntry,
    LedgerError,
)
from voxgate.privacy.params import DPSGDParams, SampledGaussianEvent

SCHEMA = "voxgate.io/privacy-ledger/v1"


class LedgerFormatError(LedgerError):
    """The stored document is not a ledger this version understands."""


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(where: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise LedgerFormatError(f"{where}: expected an RFC 3339 time, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise LedgerFormatError(f"{where}: not an RFC 3339 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise LedgerFormatError(f"{where}: time without a zone: {value!r}")
    return parsed


def _entry_document(entry: LedgerEntry) -> dict[str, Any]:
    document: dict[str, Any] = {
        "job": {"namespace": entry.job_namespace, "name": entry.job_name},
        "grant": entry.grant,
        "privacy": entry.params.to_spec(),
        "epsilon": entry.epsilon,
        "delta": entry.delta,
        "state": str(entry.state),
        "reservedAt": _time(entry.reserved_at),
    }
    for key, value in (
        ("chargedAt", entry.charged_at),
        ("settledAt", entry.settled_at),
        ("releasedAt", entry.released_at),
    ):
        if value is not None:
            document[key] = _time(value)
    return document


def _event_document(event: SampledGaussianEvent) -> dict[str, Any]:
    return {
        "noiseMultiplier": event.noise_multiplier,
        "sampleRate": event.sample_rate,
        "steps": event.steps,
    }


def to_document(ledger: Ledger) -> dict[str, Any]:
    compacted = ledger.compacted
    return {
        "schema": SCHEMA,
        "dataset": {"namespace": ledger.dataset_namespace, "name": ledger.dataset_name},
        "budget": {
            "epsilon": ledger.budget.epsilon,
            "delta": ledger.budget.delta,
            "grants": dict(sorted(ledger.budget.grants.items())),
        },
        "entries": {entry.uid: _entry_document(entry) for entry in ledger.entries},
        "compacted": {
            "settledUids": sorted(compacted.settled_uids),
            "releasedUids": sorted(compacted.released_uids),
            "grants": {
                name: {
                    "runs": history.runs,
                    "epsilonSum": history.epsilon_sum,
                    "events": [_event_document(event) for event in history.events],
                }
                for name, history in sorted(compacted.grants.items())
            },
        },
    }


def dumps(ledger: Ledger) -> str:
    # Compact on purpose: an indent makes json fall back to its pure-Python encoder, which cost a
    # third of every compare-and-swap attempt. `voxgate budget` is the readable view.
    return json.dumps(to_document(ledger), separators=(",", ":"), allow_nan=False)


def _field(where: str, document: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in document:
        raise LedgerFormatError(f"{where}: missing {key!r}")
    value = document[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise LedgerFormatError(f"{where}.{key}: unexpected value {value!r}")
    return value


def _entry(uid: str, document: object) -> LedgerEntry:
    where = f"entries[{uid}]"
    if not isinstance(document, dict):
        raise LedgerFormatError(f"{where}: expected an object")
    job = _field(where, document, "job", dict)
    state = _field(where, document, "state", str)
    if state not in {str(member) for member in EntryState}:
        raise LedgerFormatError(f"{where}.state: unknown state {state!r}")
    optional = {
        key: _parse_time(f"{where}.{key}", document[key]) if key in document else None
        for key in ("chargedAt", "settledAt", "releasedAt")
    }
    return LedgerEntry(
        uid=uid,
        job_namespace=_field(f"{where}.job", job, "namespace", str),
        job_name=_field(f"{where}.job", job, "name", str),
        grant=_field(where, document, "grant", str),
        params=DPSGDParams.from_spec(_field(where, document, "privacy", dict)),
        epsilon=float(_field(where, document, "epsilon", (int, float))),
        reserved_at=_parse_time(f"{where}.reservedAt", document.get("reservedAt")),
        state=EntryState(state),
        charged_at=optional["chargedAt"],
        settled_at=optional["settledAt"],
        released_at=optional["releasedAt"],
    )


def _grant_history(name: str, document: object) -> GrantHistory:
    where = f"compacted.grants[{name}]"
    if not isinstance(document, dict):
        raise LedgerFormatError(f"{where}: expected an object")
    events = [
        SampledGaussianEvent(
            _field(f"{where}.events", event, "noiseMultiplier", (int, float)),
            _field(f"{where}.events", event, "sampleRate", (int, float)),
            _field(f"{where}.events", event, "steps", int),
        )
        for event in _field(where, document, "events", list)
    ]
    return GrantHistory(
        runs=_field(where, document, "runs", int),
        epsilon_sum=float(_field(where, document, "epsilonSum", (int, float))),
        events=tuple(events),
    )


def from_document(document: object) -> Ledger:
    """Parse a ledger document; DP parameters inside are validated like any other input."""
    if not isinstance(document, dict):
        raise LedgerFormatError("ledger: expected a JSON object")
    if document.get("schema") != SCHEMA:
        raise LedgerFormatError(f"ledger: unknown schema {document.get('schema')!r}")
    dataset = _field("ledger", document, "dataset", dict)
    budget = _field("ledger", document, "budget", dict)
    compacted = _field("ledger", document, "compacted", dict)
    try:
        return Ledger(
            dataset_namespace=_field("dataset", dataset, "namespace", str),
            dataset_name=_field("dataset", dataset, "name", str),
            budget=Budget(
                epsilon=_field("budget", budget, "epsilon", (int, float)),
                delta=_field("budget", budget, "delta", (int, float)),
                grants=_field("budget", budget, "grants", dict),
            ),
            entries=tuple(
                _entry(uid, entry)
                for uid, entry in _field("ledger", document, "entries", dict).items()
            ),
            compacted=CompactedHistory(
                settled_uids=frozenset(_field("compacted", compacted, "settledUids", list)),
                released_uids=frozenset(_field("compacted", compacted, "releasedUids", list)),
                grants={
                    name: _grant_history(name, history)
                    for name, history in _field("compacted", compacted, "grants", dict).items()
                },
            ),
        )
    except LedgerFormatError:
        raise
    except ValueError as error:
        # A DP parameter or budget value out of range: still one line, still a format error.
        raise LedgerFormatError(f"ledger: {error}") from None


def loads(text: str) -> Ledger:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise LedgerFormatError(f"ledger: not JSON ({error.msg} at line {error.lineno})") from None
    return from_document(document)
