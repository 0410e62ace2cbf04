"""Reading the head of an existing trail file from its last line, without reading it all."""

from __future__ import annotations

import os

from voxgate.audit.errors import BrokenTrail, MalformedRecord
from voxgate.audit.record import GENESIS, AuditRecord, ChainHead, parse_record

CHUNK = 64 * 1024


def last_line(fd: int) -> bytes | None:
    """The file's last line without its newline; None for an empty file.

    Raises BrokenTrail when the file does not end with a newline: a torn or truncated write.
    """
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    if os.pread(fd, 1, size - 1) != b"\n":
        raise BrokenTrail("the last line is incomplete (no newline at the end of the file)")
    end = size - 1  # read backwards from just before the final newline
    collected = b""
    while end > 0:
        start = max(0, end - CHUNK)
        collected = os.pread(fd, end - start, start) + collected
        end = start
        newline = collected.rfind(b"\n")
        if newline >= 0:
            return collected[newline + 1 :]
    return collected


def read_head(fd: int) -> tuple[ChainHead, AuditRecord | None]:
    """The head to continue from and the last record; the last record must check out itself."""
    line = last_line(fd)
    if line is None:
        return GENESIS, None
    try:
        record = parse_record(line)
    except MalformedRecord as error:
        raise BrokenTrail(f"the last line is not a valid record: {error}") from None
    if record.computed_digest() != record.digest:
        raise BrokenTrail(f"the last record (seq {record.seq}) does not match its digest")
    if record.seq == 1 and record.prev != GENESIS.digest:
        raise BrokenTrail("record seq 1 does not link to the genesis digest")
    return record.head, record
