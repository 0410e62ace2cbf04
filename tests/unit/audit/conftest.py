"""Fixtures for audit tests: a clock that ticks, and trail files with a few records in them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from voxgate.audit import AuditEntry, AuditRecord, AuditTrail, Event, FsyncPolicy, Subject

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
JOB = Subject("TrainingJob", "team-a", "asr-small", "5b0e7c9e-4a0c-4f49-9b8e-2f0f3b1f6a01")


class Clock:
    """Advances a second per reading, so record times are distinct and predictable."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def sample_entry(index: int) -> AuditEntry:
    events = (Event.DECISION_ALLOWED, Event.LEDGER_RESERVED, Event.CREDENTIALS_RELEASED)
    return AuditEntry(
        event=events[index % len(events)],
        actor="operator",
        subject=JOB,
        details={"decisionId": f"d-{index}", "epsilon": 0.5 + index, "codes": []},
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def entry() -> Callable[[int], AuditEntry]:
    """Sample entries for tests: entry(0), entry(1), ... (test modules cannot import conftest)."""
    return sample_entry


@pytest.fixture
def write_trail(clock: Clock) -> Callable[[Path, int], list[AuditRecord]]:
    """Append `count` sample records to the trail at `path`; returns them."""

    def write(path: Path, count: int) -> list[AuditRecord]:
        with AuditTrail(path, fsync=FsyncPolicy.NEVER, clock=clock) as trail:
            return [trail.append(sample_entry(index)) for index in range(count)]

    return write
