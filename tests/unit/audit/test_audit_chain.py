"""Building records with `chain`: digests, links, canonical form and strict parsing."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from voxgate.audit import (
    GENESIS_DIGEST,
    AuditEntry,
    AuditError,
    Event,
    MalformedRecord,
    Subject,
    UnsafeDetails,
    canonical_json,
    chain,
    parse_record,
)
from voxgate.audit.canonical import NotCanonical

T0 = datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
JOB = Subject("TrainingJob", "team-a", "asr-small", "uid-1")
ENTRY = AuditEntry(
    Event.DECISION_DENIED,
    "alice",
    JOB,
    {"codes": ["DPRequired"], "decisionId": "d-1", "policyRevision": "sha256:" + "ab" * 32},
)


def test_first_record_links_to_genesis_and_its_digest_covers_everything_but_itself() -> None:
    record = chain(GENESIS_DIGEST, 1, ENTRY, T0)
    assert GENESIS_DIGEST == "sha256:" + "0" * 64
    assert record.prev == GENESIS_DIGEST and record.seq == 1
    assert record.time == "2026-05-01T12:00:00.250000Z"
    assert record.event == "decision.denied" and record.actor == "alice"
    unsigned = {key: value for key, value in record.as_dict().items() if key != "digest"}
    body = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert record.digest == "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    assert record.subject.as_dict() == {
        "kind": "TrainingJob",
        "namespace": "team-a",
        "name": "asr-small",
        "uid": "uid-1",
    }


def test_each_record_links_to_the_previous_digest() -> None:
    first = chain(GENESIS_DIGEST, 1, ENTRY, T0)
    second = chain(first.digest, 2, ENTRY, T0 + timedelta(seconds=1))
    assert second.prev == first.digest and second.seq == 2
    assert second.digest != first.digest


def test_chain_is_pure_same_input_same_record() -> None:
    assert chain(GENESIS_DIGEST, 1, ENTRY, T0) == chain(GENESIS_DIGEST, 1, ENTRY, T0)


def test_the_line_is_canonical_json_with_a_newline_and_parses_back() -> None:
    entry = AuditEntry("grant.revoked", "bob", JOB, {"message": "Zürich ✓", "epsilon": 1e-05})
    record = chain(GENESIS_DIGEST, 1, entry, T0)
    line = record.line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert b" " not in line.replace("Zürich ✓".encode(), b"")  # no whitespace but in the value
    assert "Zürich ✓".encode() in line  # UTF-8, not \u escapes
    keys = list(json.loads(line))
    assert keys == sorted(keys)
    assert parse_record(line[:-1]) == record


def test_times_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    record = chain(GENESIS_DIGEST, 1, ENTRY, datetime(2026, 5, 1, 14, 0, tzinfo=plus_two))
    assert record.time == "2026-05-01T12:00:00.000000Z"


@pytest.mark.parametrize(
    ("prev", "seq", "entry", "at", "message"),
    [
        ("sha256:abc", 2, ENTRY, T0, "prev_digest"),
        (GENESIS_DIGEST, 0, ENTRY, T0, "positive integer"),
        ("sha256:" + "1" * 64, 1, ENTRY, T0, "genesis"),
        (GENESIS_DIGEST, 1, ENTRY, datetime(2026, 5, 1), "timezone-aware"),
        (GENESIS_DIGEST, 1, AuditEntry("Decision Allowed", "a", JOB), T0, "dotted"),
        (GENESIS_DIGEST, 1, AuditEntry("decision.allowed", "", JOB), T0, "actor"),
        (GENESIS_DIGEST, 1, AuditEntry("decision.allowed", "a", Subject("", "n", "x")), T0, "kind"),
    ],
)
def test_bad_input_is_a_clear_error(
    prev: str, seq: int, entry: AuditEntry, at: datetime, message: str
) -> None:
    with pytest.raises(AuditError, match=message):
        chain(prev, seq, entry, at)


def test_nan_and_unknown_keys_are_refused() -> None:
    with pytest.raises(UnsafeDetails, match="NaN"):
        chain(GENESIS_DIGEST, 1, AuditEntry("ledger.charged", "a", JOB, {"epsilon": 1e400}), T0)
    with pytest.raises(UnsafeDetails, match="allow-list"):
        chain(GENESIS_DIGEST, 1, AuditEntry("ledger.charged", "a", JOB, {"dek": "x"}), T0)
    with pytest.raises(NotCanonical):
        canonical_json({"x": float("nan")})


def test_subject_of_a_kubernetes_object() -> None:
    body = {
        "apiVersion": "voxgate.io/v1alpha1",
        "kind": "DataGrant",
        "metadata": {"name": "g", "namespace": "stewards", "uid": "u-9"},
    }
    assert Subject.of(body) == Subject("DataGrant", "stewards", "g", "u-9")


def _line(record_dict: dict[str, object]) -> bytes:
    return canonical_json(record_dict)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("actor"), "missing"),
        (lambda d: d.update(extra=1), "unexpected"),
        (lambda d: d.update(seq=True), "seq"),
        (lambda d: d.update(seq="1"), "seq"),
        (lambda d: d.update(time="2026-05-01 12:00:00"), "RFC 3339"),
        (lambda d: d.update(prev="sha256:ABC"), "prev"),
        (lambda d: d.update(subject={"kind": "x"}), "subject"),
        (lambda d: d.update(details=[]), "details"),
    ],
)
def test_parse_record_is_strict(mutate: object, message: str) -> None:
    record = chain(GENESIS_DIGEST, 1, ENTRY, T0).as_dict()
    assert callable(mutate)
    mutate(record)
    with pytest.raises(MalformedRecord, match=message):
        parse_record(_line(record))


def test_parse_record_refuses_non_canonical_lines_duplicates_and_constants() -> None:
    record = chain(GENESIS_DIGEST, 1, ENTRY, T0)
    spaced = json.dumps(record.as_dict(), sort_keys=True).encode()
    with pytest.raises(MalformedRecord, match="canonical"):
        parse_record(spaced)
    canonical = record.line()[:-1]
    with pytest.raises(MalformedRecord, match="duplicate"):
        parse_record(canonical[:-1] + b',"seq":1}')
    with pytest.raises(MalformedRecord, match="NaN"):
        parse_record(canonical.replace(b'"details":{', b'"details":{"epsilon":NaN,'))
    with pytest.raises(MalformedRecord, match="UTF-8"):
        parse_record(b"\xff\xfe")
    with pytest.raises(MalformedRecord, match="not JSON"):
        parse_record(b"{")
