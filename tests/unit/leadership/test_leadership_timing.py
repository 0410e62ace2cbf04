"""Election timing and identity: client-go's defaults and rules, one-line errors."""

from __future__ import annotations

import re

import pytest

from voxgate.leadership import ElectionTiming, default_identity
from voxgate.settings import OperatorSettings


def test_client_go_defaults() -> None:
    timing = ElectionTiming()
    assert (timing.lease_duration, timing.renew_deadline, timing.retry_period) == (15, 10.0, 2.0)
    assert ElectionTiming.from_settings(OperatorSettings()) == timing


@pytest.mark.parametrize(
    ("lease", "deadline", "retry", "message"),
    [
        (0, 0.5, 0.1, "lease_duration_seconds must be at least 1"),
        (2.5, 1.0, 0.2, "lease_duration_seconds must be a whole number"),
        (True, 0.5, 0.1, "lease_duration_seconds must be a whole number"),
        (15, 15.0, 2.0, "renew_deadline_seconds (15) must be less than lease_duration_seconds"),
        (
            15,
            2.4,
            2.0,
            "renew_deadline_seconds (2.4) must be more than 1.2 x retry_period_seconds (2)",
        ),
        (15, 10.0, 0.0, "retry_period_seconds must be a finite number > 0"),
        (15, float("nan"), 2.0, "renew_deadline_seconds must be a finite number > 0"),
    ],
)
def test_bad_timing_is_refused(lease: int, deadline: float, retry: float, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ElectionTiming(lease, deadline, retry)


def test_acquire_pause_is_jittered_within_client_gos_bounds() -> None:
    timing = ElectionTiming(15, 10.0, 2.0)
    pauses = [timing.acquire_pause() for _ in range(200)]
    assert all(2.0 <= p <= 2.0 * 2.2 for p in pauses)
    assert len(set(pauses)) > 1


def test_identity_is_the_pod_name_else_unique_per_process() -> None:
    assert default_identity("voxgate-1") == "voxgate-1"
    first, second = default_identity(""), default_identity("")
    assert first != second
    assert first.rsplit("_", 1)[0] == second.rsplit("_", 1)[0]  # the same host name
