"""`AuditTrail`: appends chained records to a JSON-lines file (and optionally a mirror stream).

One writer per file: the file is locked (flock) for as long as the trail is open, and on open the
chain continues from the last line, which must be a valid record; a broken tail is never
continued (fail closed). `append` is synchronous and short (one write, and an fsync if the policy
says so) and guarded by a lock, so the kopf handlers' event loop, the broker's threads and
background tasks can share one trail.

A failed write is rolled back (the file is cut back to its size before the write); if even that
fails, or an fsync fails, the trail refuses every further append until it is reopened, because
the file's tail is then unknown.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from voxgate.audit.errors import AuditWriteError, BrokenTrail, TrailClosed, TrailLocked
from voxgate.audit.record import GENESIS, AuditEntry, AuditRecord, ChainHead, Subject, chain
from voxgate.audit.scrub import DETAIL_KEYS
from voxgate.audit.tail import read_head
from voxgate.audit.verify import verify_file

log = logging.getLogger(__name__)
FILE_MODE = 0o600


class FsyncPolicy(StrEnum):
    ALWAYS = "always"  # every record is on disk before append returns
    INTERVAL = "interval"  # at most every fsync_interval_seconds, and on sync() and close()
    NEVER = "never"  # left to the OS (tests, or a filesystem that syncs itself)


def utc_now() -> datetime:
    return datetime.now(UTC)


class AuditTrail:
    def __init__(
        self,
        path: Path | None,
        *,
        fsync: FsyncPolicy = FsyncPolicy.ALWAYS,
        fsync_interval_seconds: float = 1.0,
        mirror: TextIO | None = None,
        clock: Callable[[], datetime] = utc_now,
        verify_on_open: bool = False,
        anchor: ChainHead | None = None,
        detail_keys: frozenset[str] = DETAIL_KEYS,
    ) -> None:
        """Open (or create) the trail at `path`; `path=None` keeps the chain in memory and
        writes only to `mirror`.

        `verify_on_open` checks the whole file, not just its last line. `anchor` (the stored
        anchor's head) implies it and also requires the anchored record to be in the file, so a
        truncated or replaced trail is refused before anything is chained onto it.
        """
        self.path = path
        self.fsync = FsyncPolicy(fsync)
        self.fsync_interval_seconds = fsync_interval_seconds
        self.mirror = mirror
        self.clock = clock
        self.detail_keys = detail_keys
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._failed: str | None = None
        self._closed = False
        self._unsynced = False
        self._last_sync = time.monotonic()
        self._head = GENESIS
        self._last: AuditRecord | None = None
        if path is not None:
            self._fd = _open_locked(path)
            try:
                self._head, self._last = self._read_existing(path, self._fd, verify_on_open, anchor)
            except BaseException:
                os.close(self._fd)
                raise

    @staticmethod
    def _read_existing(
        path: Path, fd: int, verify_on_open: bool, anchor: ChainHead | None
    ) -> tuple[ChainHead, AuditRecord | None]:
        try:
            head, last = read_head(fd)
        except BrokenTrail as error:
            raise BrokenTrail(
                f"audit trail {path} has a broken tail, refusing to continue it: {error}; "
                f"run `voxgate audit verify {path}` and see docs/audit.md (recovery)"
            ) from None
        if verify_on_open or anchor is not None:
            result = verify_file(path, anchor)
            if result.problem is not None:
                raise BrokenTrail(
                    f"audit trail {path} is broken at {result.problem}; refusing to continue it"
                )
        return head, last

    # -- reading --------------------------------------------------------------------------

    @property
    def head(self) -> ChainHead:
        """The last record appended (or found on open); GENESIS (seq 0) for an empty trail."""
        with self._lock:
            return self._head

    @property
    def last_record(self) -> AuditRecord | None:
        with self._lock:
            return self._last

    # -- writing --------------------------------------------------------------------------

    def append(self, entry: AuditEntry) -> AuditRecord:
        """Chain `entry` onto the trail and write it; returns the record as written.

        Raises UnsafeDetails or AuditError for a bad entry (nothing is written), AuditWriteError
        when the record could not be written, TrailClosed after close() or a failed write.
        """
        with self._lock:
            if self._closed:
                raise TrailClosed("the audit trail is closed")
            if self._failed is not None:
                raise TrailClosed(f"the audit trail refused appends after an error: {self._failed}")
            record = chain(
                self._head.digest, self._head.seq + 1, entry, self.clock(), self.detail_keys
            )
            line = record.line()
            if self._fd is not None:
                self._write(line)
            self._mirror(line)
            self._head = record.head
            self._last = record
            return record

    def record(
        self,
        event: str,
        actor: str,
        subject: Subject,
        details: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """Shorthand for append(AuditEntry(event, actor, subject, details))."""
        return self.append(AuditEntry(event, actor, subject, dict(details or {})))

    def sync(self) -> None:
        """Make every record appended so far durable (before anchoring it, for instance)."""
        with self._lock:
            if self._fd is not None and self._unsynced and self._failed is None:
                self._fsync()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._fd is None:
                return
            try:
                if self._unsynced and self._failed is None and self.fsync != FsyncPolicy.NEVER:
                    self._fsync()
            finally:
                os.close(self._fd)  # closing also releases the flock
                self._fd = None

    def __enter__(self) -> AuditTrail:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals (called with the lock held) ---------------------------------------------

    def _write(self, line: bytes) -> None:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, line)
            if written != len(line):
                raise OSError(f"short write ({written} of {len(line)} bytes)")
        except OSError as error:
            reason = error.strerror or str(error)
            self._roll_back(size, reason)
            raise AuditWriteError(f"cannot write audit record to {self.path}: {reason}") from None
        self._unsynced = True
        due = time.monotonic() - self._last_sync >= self.fsync_interval_seconds
        if self.fsync == FsyncPolicy.ALWAYS or (self.fsync == FsyncPolicy.INTERVAL and due):
            self._fsync()

    def _roll_back(self, size: int, reason: str) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, size)
        except OSError as error:
            self._failed = f"write failed ({reason}) and could not be undone ({error.strerror})"

    def _fsync(self) -> None:
        assert self._fd is not None
        try:
            os.fsync(self._fd)
        except OSError as error:
            # After a failed fsync the kernel may have dropped the dirty pages: the tail is
            # unknown, so stop here rather than chain onto something that may not exist.
            self._failed = f"fsync failed ({error.strerror})"
            raise AuditWriteError(f"cannot sync {self.path}: {error.strerror}") from None
        self._unsynced = False
        self._last_sync = time.monotonic()

    def _mirror(self, line: bytes) -> None:
        if self.mirror is None:
            return
        try:
            self.mirror.write(line.decode("utf-8"))
            self.mirror.flush()
        except (OSError, ValueError) as error:
            if self._fd is None:
                raise AuditWriteError(f"cannot write audit record to the mirror: {error}") from None
            # The file is the record of truth; a closed stdout must not stop the operator.
            log.warning("audit mirror write failed: %s", error)


def _open_locked(path: Path) -> int:
    created = not path.exists()
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except OSError as error:
        raise AuditWriteError(f"cannot open audit trail {path}: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise TrailLocked(
            f"audit trail {path} is open for writing by another process; "
            "one trail file has one writer"
        ) from None
    if created:
        # The new file's directory entry must survive a crash too.
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    return fd
