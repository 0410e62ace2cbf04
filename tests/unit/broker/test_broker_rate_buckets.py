"""The per-address token bucket for unauthenticated key requests, on a hand-driven clock."""

from __future__ import annotations

import pytest

from voxgate.broker.ratelimit import Limited, UnauthenticatedLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def limiter(
    burst: int = 3, per_second: float = 0.5, **kwargs: int
) -> tuple[Clock, UnauthenticatedLimiter]:
    clock = Clock()
    return clock, UnauthenticatedLimiter(burst, per_second, clock=clock, **kwargs)


def test_a_burst_is_served_then_the_address_waits_for_a_token() -> None:
    clock, limits = limiter()
    for _ in range(3):
        assert limits.check("10.0.0.1") is None
        limits.charge("10.0.0.1")
    assert limits.check("10.0.0.1") == Limited(retry_after_seconds=2, first_of_burst=True)
    assert limits.check("10.0.0.1") == Limited(retry_after_seconds=2, first_of_burst=False)
    assert limits.check("10.0.0.2") is None  # other addresses are not affected
    clock.now += 1
    assert limits.check("10.0.0.1") == Limited(retry_after_seconds=1, first_of_burst=False)
    clock.now += 1
    assert limits.check("10.0.0.1") is None
    limits.charge("10.0.0.1")
    # A new burst of 429s is audited again.
    assert limits.check("10.0.0.1") == Limited(retry_after_seconds=2, first_of_burst=True)


def test_the_bucket_never_holds_more_than_the_burst() -> None:
    clock, limits = limiter()
    limits.charge("a")
    clock.now += 3600
    for _ in range(3):
        limits.charge("a")
    assert limits.check("a") is not None


def test_known_addresses_are_bounded_dropping_idle_ones_first() -> None:
    clock, limits = limiter(max_addresses=2)
    limits.charge("idle")
    clock.now += 10  # refilled: as good as unknown
    for _ in range(3):
        limits.charge("busy")
    limits.charge("new")
    assert limits.tracked() == 2
    assert limits.check("busy") is not None
    limits.charge("newer")  # only active buckets left: the oldest goes
    assert limits.tracked() == 2
    assert limits.check("busy") is None


def test_a_burst_of_zero_disables_the_limit() -> None:
    _, limits = limiter(burst=0)
    for _ in range(100):
        limits.charge("a")
    assert limits.check("a") is None
    assert limits.tracked() == 0


@pytest.mark.parametrize(("burst", "per_second"), [(-1, 1.0), (5, 0.0), (5, -1.0)])
def test_impossible_settings_are_refused(burst: int, per_second: float) -> None:
    with pytest.raises(ValueError, match="burst >= 0 and a rate > 0"):
        UnauthenticatedLimiter(burst, per_second)
