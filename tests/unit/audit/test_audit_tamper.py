"""Tampering with a trail file is detected, and the first broken record is named."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from voxgate.audit import (
    GENESIS,
    AuditEntry,
    AuditRecord,
    ChainHead,
    canonical_json,
    chain,
    parse_record,
    verify_file,
    verify_lines,
)
from voxgate.audit.canonical import sha256_digest

WriteTrail = Callable[[Path, int], list[AuditRecord]]


@pytest.fixture
def trail_file(tmp_path: Path, write_trail: WriteTrail) -> tuple[Path, list[AuditRecord]]:
    path = tmp_path / "audit.jsonl"
    return path, write_trail(path, 10)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def with_digest(fields: dict[str, object]) -> bytes:
    """A forged line whose digest is correct for its (forged) content."""
    unsigned = {key: value for key, value in fields.items() if key != "digest"}
    return canonical_json({**unsigned, "digest": sha256_digest(canonical_json(unsigned))}) + b"\n"


def test_an_untouched_trail_verifies(trail_file: tuple[Path, list[AuditRecord]]) -> None:
    path, records = trail_file
    result = verify_file(path)
    assert result.intact and result.records == 10
    assert result.head == records[-1].head


def test_an_empty_trail_verifies(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_bytes(b"")
    result = verify_file(tmp_path / "empty.jsonl")
    assert result.intact and result.records == 0 and result.head == GENESIS


def test_an_edited_detail_breaks_that_records_digest(
    trail_file: tuple[Path, list[AuditRecord]],
) -> None:
    path, _ = trail_file
    lines = lines_of(path)
    assert b'"epsilon":3.5' in lines[3]
    lines[3] = lines[3].replace(b'"epsilon":3.5', b'"epsilon":0.5')
    path.write_bytes(b"".join(lines))
    problem = verify_file(path).problem
    assert problem is not None
    assert (problem.line, problem.seq) == (4, 4)
    assert "digest does not match" in problem.message
    assert str(problem).startswith("line 4 (seq 4): ")


def test_a_deleted_line_is_a_missing_seq(trail_file: tuple[Path, list[AuditRecord]]) -> None:
    path, _ = trail_file
    lines = lines_of(path)
    del lines[5]
    path.write_bytes(b"".join(lines))
    result = verify_file(path)
    assert result.problem is not None
    assert (result.problem.line, result.problem.seq) == (6, 7)
    assert "expected seq 6 after seq 5" in result.problem.message
    assert result.records == 5 and result.head.seq == 5


def test_reordered_lines_are_detected(trail_file: tuple[Path, list[AuditRecord]]) -> None:
    path, _ = trail_file
    lines = lines_of(path)
    lines[2], lines[3] = lines[3], lines[2]
    path.write_bytes(b"".join(lines))
    problem = verify_file(path).problem
    assert problem is not None
    assert (problem.line, problem.seq) == (3, 4)
    assert "expected seq 3" in problem.message


def test_renumbered_reordered_lines_break_the_digest(
    trail_file: tuple[Path, list[AuditRecord]],
) -> None:
    path, records = trail_file
    lines = lines_of(path)
    # Swap records 3 and 4 and fix up their seq numbers (and digests) to hide the swap.
    third, fourth = records[2].as_dict(), records[3].as_dict()
    third["seq"], fourth["seq"] = 4, 3
    lines[2], lines[3] = with_digest(fourth), with_digest(third)
    path.write_bytes(b"".join(lines))
    problem = verify_file(path).problem
    assert problem is not None
    assert (problem.line, problem.seq) == (3, 3)
    assert "prev does not match the digest of seq 2" in problem.message


def test_an_inserted_forged_line_with_a_valid_digest_but_wrong_prev(
    trail_file: tuple[Path, list[AuditRecord]],
) -> None:
    path, records = trail_file
    lines = lines_of(path)
    forged = records[4].as_dict()
    forged["details"] = {"decisionId": "forged", "epsilon": 0.0, "codes": []}
    forged["prev"] = "sha256:" + "1" * 64
    forged["seq"] = 5
    lines.insert(4, with_digest(forged))  # in place of the real seq 5, which follows it
    path.write_bytes(b"".join(lines))
    problem = verify_file(path).problem
    assert problem is not None
    assert (problem.line, problem.seq) == (5, 5)
    assert "prev does not match the digest of seq 4" in problem.message


def test_a_forged_line_linked_correctly_still_breaks_the_next_record(
    trail_file: tuple[Path, list[AuditRecord]],
) -> None:
    path, records = trail_file
    lines = lines_of(path)
    forged = records[4].as_dict()
    forged["details"] = {"decisionId": "forged", "epsilon": 0.0, "codes": []}
    lines[4] = with_digest(forged)  # same seq and prev as the real one, new content
    path.write_bytes(b"".join(lines))
    problem = verify_file(path).problem
    assert problem is not None
    assert (problem.line, problem.seq) == (6, 6)
    assert "prev does not match the digest of seq 5" in problem.message


def test_a_truncated_tail_needs_the_anchor_to_be_seen(
    trail_file: tuple[Path, list[AuditRecord]],
) -> None:
    path, records = trail_file
    anchor = records[7].head  # anchored at seq 8
    assert verify_file(path, anchor).intact
    path.write_bytes(b"".join(lines_of(path)[:6]))
    # Without the anchor a shorter chain is still a valid chain ...
    assert verify_file(path).intact
    # ... with it, the cut is visible.
    problem = verify_file(path, anchor).problem
    assert problem is not None
    assert problem.line == 7 and problem.seq is None
    assert "ends at seq 6 but seq 8 was anchored" in problem.message


def test_a_rewritten_chain_is_caught_by_the_anchor(
    trail_file: tuple[Path, list[AuditRecord]],
) -> None:
    path, records = trail_file
    # An attacker with the file rewrites record 3 and re-chains everything after it.
    lines = lines_of(path)[:2]
    head = records[1].head
    for original in records[2:]:
        details = dict(original.details)
        if original.seq == 3:
            details["codes"] = ["Forged"]
        entry = AuditEntry(original.event, original.actor, original.subject, details)
        forged = chain(head.digest, head.seq + 1, entry, datetime.fromisoformat(original.time))
        lines.append(forged.line())
        head = forged.head
    path.write_bytes(b"".join(lines))
    assert verify_file(path).intact  # self-consistent: only an outside witness can tell
    problem = verify_file(path, records[7].head).problem
    assert problem is not None
    assert (problem.line, problem.seq) == (8, 8)
    assert "differs from the anchored record" in problem.message


def test_a_torn_last_line_and_blank_lines_are_breaks(
    trail_file: tuple[Path, list[AuditRecord]],
) -> None:
    path, _ = trail_file
    data = path.read_bytes()
    path.write_bytes(data[:-20])
    problem = verify_file(path).problem
    assert problem is not None and problem.line == 10
    assert "incomplete" in problem.message
    lines = data.splitlines(keepends=True)
    problem = verify_lines([*lines[:3], b"\n", *lines[3:]]).problem
    assert problem is not None and problem.line == 4
    assert "not a valid record" in problem.message


def test_whitespace_changes_are_breaks_too(trail_file: tuple[Path, list[AuditRecord]]) -> None:
    path, _ = trail_file
    lines = lines_of(path)
    lines[1] = json.dumps(json.loads(lines[1]), sort_keys=True).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    problem = verify_file(path).problem
    assert problem is not None and problem.line == 2
    assert "canonical" in problem.message


def test_anchor_at_genesis_is_trivially_present(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"")
    assert verify_file(tmp_path / "a.jsonl", ChainHead(0, GENESIS.digest)).intact


def test_parse_round_trip_of_every_written_line(
    trail_file: tuple[Path, list[AuditRecord]],
) -> None:
    path, records = trail_file
    assert [parse_record(line[:-1]) for line in lines_of(path)] == records
