"""AuditTrail: continuing a chain across restarts, refusing broken tails, one writer, failures."""

from __future__ import annotations

import errno
import io
import json
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from voxgate.audit import (
    GENESIS,
    AuditEntry,
    AuditError,
    AuditRecord,
    AuditTrail,
    AuditWriteError,
    BrokenTrail,
    Event,
    FsyncPolicy,
    Subject,
    TrailClosed,
    TrailLocked,
    UnsafeDetails,
    verify_file,
)

WriteTrail = Callable[[Path, int], list[AuditRecord]]
Clock = Callable[[], datetime]
Entry = Callable[[int], AuditEntry]
JOB = Subject("TrainingJob", "team-a", "asr-small", "5b0e7c9e-4a0c-4f49-9b8e-2f0f3b1f6a01")


def test_a_new_trail_starts_at_genesis_and_creates_a_private_file(
    tmp_path: Path, clock: Clock, entry: Entry
) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditTrail(path, clock=clock) as trail:
        assert trail.head == GENESIS and trail.last_record is None
        record = trail.append(entry(0))
        assert record.seq == 1 and trail.head == record.head
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes() == record.line()


def test_restarting_a_trail_continues_the_chain(
    tmp_path: Path, write_trail: WriteTrail, clock: Clock
) -> None:
    path = tmp_path / "audit.jsonl"
    first = write_trail(path, 3)
    with AuditTrail(path, clock=clock) as trail:
        assert trail.head == first[-1].head
        assert trail.last_record == first[-1]
        fourth = trail.record(Event.JOB_SUCCEEDED, "operator", JOB, {"phase": "Succeeded"})
    assert fourth.seq == 4 and fourth.prev == first[-1].digest
    result = verify_file(path)
    assert result.intact and result.records == 4


def test_a_long_last_line_is_found_across_read_chunks(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditTrail(path, clock=clock) as trail:
        trail.record("job.failed", "operator", JOB, {"message": "x " * 1000})
        for _ in range(40):
            last = trail.record("job.failed", "operator", JOB, {"message": "y " * 1000})
    with AuditTrail(path, clock=clock) as trail:
        assert trail.head == last.head


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-1], "incomplete"),  # the newline of the last record is gone
        (lambda data: data[:-30], "incomplete"),  # a torn write
        (lambda data: data + b"garbage\n", "not a valid record"),
        (lambda data: data.replace(b'"decisionId":"d-2"', b'"decisionId":"d-9"'), "digest"),
        (lambda data: data + b"\n", "not a valid record"),
    ],
)
def test_a_broken_tail_is_never_continued(
    tmp_path: Path, write_trail: WriteTrail, damage: Callable[[bytes], bytes], message: str
) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 3)
    broken = damage(path.read_bytes())
    path.write_bytes(broken)
    with pytest.raises(BrokenTrail, match=message) as info:
        AuditTrail(path)
    assert "refusing to continue" in str(info.value) and "\n" not in str(info.value)
    assert path.read_bytes() == broken  # nothing was appended


def test_a_break_in_the_middle_is_caught_only_by_a_full_verify_on_open(
    tmp_path: Path, write_trail: WriteTrail
) -> None:
    path = tmp_path / "audit.jsonl"
    write_trail(path, 5)
    lines = path.read_bytes().splitlines(keepends=True)
    del lines[1]
    path.write_bytes(b"".join(lines))
    AuditTrail(path).close()  # the last line alone is fine
    with pytest.raises(BrokenTrail, match=r"line 2 \(seq 3\)"):
        AuditTrail(path, verify_on_open=True)


def test_opening_with_the_anchor_refuses_a_truncated_trail(
    tmp_path: Path, write_trail: WriteTrail
) -> None:
    path = tmp_path / "audit.jsonl"
    records = write_trail(path, 6)
    AuditTrail(path, anchor=records[5].head).close()
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:4]))
    with pytest.raises(BrokenTrail, match="seq 6 was anchored"):
        AuditTrail(path, anchor=records[5].head)


def test_one_writer_per_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditTrail(path), pytest.raises(TrailLocked, match="another process"):
        AuditTrail(path)
    AuditTrail(path).close()  # released on close


def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuditWriteError, match="cannot open audit trail"):
        AuditTrail(tmp_path / "no-such-dir" / "audit.jsonl")


def test_records_are_mirrored_and_a_memory_trail_needs_no_file(clock: Clock, entry: Entry) -> None:
    mirror = io.StringIO()
    trail = AuditTrail(None, mirror=mirror, clock=clock)
    first = trail.append(entry(0))
    second = trail.append(entry(1))
    assert mirror.getvalue().encode() == first.line() + second.line()
    assert [json.loads(line)["seq"] for line in mirror.getvalue().splitlines()] == [1, 2]


def test_file_and_mirror_get_the_same_lines(tmp_path: Path, clock: Clock, entry: Entry) -> None:
    mirror = io.StringIO()
    path = tmp_path / "audit.jsonl"
    with AuditTrail(path, mirror=mirror, clock=clock) as trail:
        trail.append(entry(0))
    assert path.read_bytes() == mirror.getvalue().encode()


def test_concurrent_appends_from_threads_form_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditTrail(path, fsync=FsyncPolicy.NEVER) as trail:

        def work(worker: int) -> None:
            for index in range(50):
                trail.record("ledger.reserved", f"worker-{worker}", JOB, {"count": index})

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert trail.head.seq == 400
    result = verify_file(path)
    assert result.intact and result.records == 400


def test_a_rejected_entry_writes_nothing_and_keeps_the_head(tmp_path: Path, entry: Entry) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditTrail(path) as trail:
        trail.append(entry(0))
        head = trail.head
        with pytest.raises(UnsafeDetails):
            trail.record("credentials.released", "broker", JOB, {"token": "x"})
        with pytest.raises(AuditError):
            trail.record("Not An Event", "broker", JOB)
        assert trail.head == head
        assert trail.append(entry(1)).seq == 2
    assert verify_file(path).records == 2


def test_fsync_policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: Entry) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    with AuditTrail(tmp_path / "always.jsonl", fsync=FsyncPolicy.ALWAYS) as trail:
        synced.clear()
        for index in range(3):
            trail.append(entry(index))
        assert len(synced) == 3
    synced.clear()
    with AuditTrail(tmp_path / "never.jsonl", fsync=FsyncPolicy.NEVER) as trail:
        for index in range(3):
            trail.append(entry(index))
        trail.sync()  # an explicit sync (before anchoring) still syncs
        assert len(synced) == 2  # the new file's directory, then sync()
    synced.clear()
    trail = AuditTrail(
        tmp_path / "interval.jsonl", fsync=FsyncPolicy.INTERVAL, fsync_interval_seconds=3600
    )
    synced.clear()
    for index in range(3):
        trail.append(entry(index))
    assert synced == []
    trail.close()
    assert len(synced) == 1  # close makes the pending records durable


def test_a_failed_write_is_rolled_back_and_the_trail_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: Entry
) -> None:
    path = tmp_path / "audit.jsonl"
    trail = AuditTrail(path, fsync=FsyncPolicy.NEVER)
    first = trail.append(entry(0))
    real_write = os.write

    def half_then_fail(fd: int, data: bytes) -> int:
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_fail)
    with pytest.raises(AuditWriteError, match="No space left"):
        trail.append(entry(1))
    monkeypatch.setattr(os, "write", real_write)
    assert path.read_bytes() == first.line()  # the torn half was cut off again
    assert trail.head == first.head
    assert trail.append(entry(1)).seq == 2
    trail.close()
    assert verify_file(path).records == 2


def test_a_failed_fsync_stops_the_trail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: Entry
) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl", fsync=FsyncPolicy.ALWAYS)

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(AuditWriteError, match="Input/output error"):
        trail.append(entry(0))
    monkeypatch.undo()
    with pytest.raises(TrailClosed, match="fsync failed"):
        trail.append(entry(1))
    trail.close()
    # Reopening reads what is really in the file and continues from there.
    with AuditTrail(tmp_path / "audit.jsonl") as reopened:
        assert reopened.head.seq == 1


def test_append_after_close_is_refused(tmp_path: Path, entry: Entry) -> None:
    trail = AuditTrail(tmp_path / "audit.jsonl")
    trail.close()
    trail.close()  # idempotent
    with pytest.raises(TrailClosed, match="closed"):
        trail.append(entry(0))
