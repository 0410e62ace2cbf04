"""Verifying a trail: every digest, every prev link, seq continuity, and optionally an anchor.

The first problem ends the walk: after a break nothing later can be trusted, and the one line
that names it (line number and seq) is what a human needs to start looking.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from voxgate.audit.errors import AuditError, MalformedRecord
from voxgate.audit.record import GENESIS, AuditRecord, ChainHead, parse_record


@dataclass(frozen=True)
class Break:
    """Where and why a chain is broken; `seq` is what the line claims, or None if unreadable."""

    line: int
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class VerifyResult:
    records: int
    head: ChainHead  # the last good record (GENESIS for an empty file)
    problem: Break | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def check_record(record: AuditRecord, expected: ChainHead) -> str | None:
    """Why `record` cannot follow `expected`, or None if it can."""
    if record.computed_digest() != record.digest:
        return "digest does not match the record's content (the record was edited)"
    if record.seq != expected.seq + 1:
        what = "missing" if record.seq > expected.seq + 1 else "repeated or out of order"
        return f"expected seq {expected.seq + 1} after seq {expected.seq} (a record is {what})"
    if record.prev != expected.digest:
        return (
            f"prev does not match the digest of seq {expected.seq} "
            "(a record was inserted, replaced or reordered)"
        )
    return None


class ChainWalk:
    """Iterates (line number, record) over the verified prefix of a trail's raw lines (each
    with its newline, as iterating a binary file gives them). After the loop, `problem` is the
    first break (None if the whole input verified), `head` the last good record, `lines` the
    number of lines read."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = lines
        self.problem: Break | None = None
        self.head = GENESIS
        self.records = 0
        self.lines = 0

    def __iter__(self) -> Iterator[tuple[int, AuditRecord]]:
        for number, raw in enumerate(self._lines, start=1):
            self.lines = number
            record = self._check(number, raw)
            if record is None:
                return
            self.head = record.head
            self.records += 1
            yield number, record

    def _check(self, number: int, raw: bytes) -> AuditRecord | None:
        if not raw.endswith(b"\n"):
            self.problem = Break(number, None, "the last line is incomplete (no newline)")
            return None
        try:
            record = parse_record(raw[:-1])
        except MalformedRecord as error:
            self.problem = Break(number, None, f"not a valid record: {error}")
            return None
        reason = check_record(record, self.head)
        if reason is not None:
            self.problem = Break(number, record.seq, reason)
            return None
        return record


def verify_lines(lines: Iterable[bytes], anchor: ChainHead | None = None) -> VerifyResult:
    """Verify a trail's raw lines; with `anchor`, also require the anchored record in them."""
    walk = ChainWalk(lines)
    anchor_seen = anchor is None or anchor.seq == 0
    for number, record in walk:
        if anchor is not None and record.seq == anchor.seq:
            if record.digest != anchor.digest:
                message = "differs from the anchored record (rewritten after anchoring)"
                before = ChainHead(record.seq - 1, record.prev)
                return VerifyResult(walk.records - 1, before, Break(number, record.seq, message))
            anchor_seen = True
    if walk.problem is not None:
        return VerifyResult(walk.records, walk.head, walk.problem)
    if anchor is not None and not anchor_seen:
        message = (
            f"the file ends at seq {walk.head.seq} but seq {anchor.seq} was anchored "
            "(records were removed from the end)"
        )
        return VerifyResult(walk.records, walk.head, Break(walk.lines + 1, None, message))
    return VerifyResult(walk.records, walk.head)


def verify_file(path: Path, anchor: ChainHead | None = None) -> VerifyResult:
    """Verify a trail file; raises AuditError only if it cannot be read at all."""
    try:
        with path.open("rb") as lines:
            return verify_lines(lines, anchor)
    except OSError as error:
        raise AuditError(f"cannot read audit trail {path}: {error.strerror}") from None
