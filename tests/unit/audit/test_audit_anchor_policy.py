"""`should_anchor`: when the operator's background task writes a new anchor; `anchor_name`:
which ConfigMap each replica anchors its trail in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from voxgate.audit import DEFAULT_ANCHOR_NAME, AnchorError, anchor_name, should_anchor

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("last", "records_since", "max_pending", "expected"),
    [
        (None, 0, None, False),  # nothing to anchor, ever
        (NOW - 10 * MINUTE, 0, None, False),  # overdue, but nothing new
        (None, 1, None, True),  # never anchored, something new
        (NOW - 2 * MINUTE, 1, None, True),  # interval passed
        (NOW - MINUTE, 1, None, True),  # exactly the interval
        (NOW - MINUTE / 2, 1, None, False),  # too soon
        (NOW - MINUTE / 2, 999, 1000, False),  # too soon, below the burst limit
        (NOW - MINUTE / 2, 1000, 1000, True),  # too soon, but many records wait
        (NOW + 5 * MINUTE, 1, None, True),  # the clock went backwards: anchor anyway
        (None, -3, None, False),  # a trail behind its anchor is not "due" here
    ],
)
def test_should_anchor(
    last: datetime | None, records_since: int, max_pending: int | None, expected: bool
) -> None:
    assert should_anchor(last, NOW, MINUTE, records_since, max_pending=max_pending) is expected


def test_each_replica_has_its_own_anchor_name() -> None:
    assert anchor_name("voxgate-0") == "voxgate-audit-anchor-voxgate-0"
    assert anchor_name("voxgate-1") != anchor_name("voxgate-0")
    assert anchor_name("") == DEFAULT_ANCHOR_NAME  # a process that knows no pod name
    assert len(anchor_name("p" * 232)) == 253
    with pytest.raises(AnchorError, match="too long"):
        anchor_name("p" * 233)
