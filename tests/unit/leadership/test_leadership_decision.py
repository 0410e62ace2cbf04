"""`decide`, `claim`, `released`: client-go's rule for the operator's Lease, as a table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from voxgate.leadership import (
    Action,
    LeaseRecord,
    Observation,
    claim,
    decide,
    released,
)

ME, OTHER = "voxgate-0", "voxgate-1"
DURATION = 15
WALL = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def held(holder: str, version: str = "100", *, duration: int | None = DURATION) -> LeaseRecord:
    return LeaseRecord(holder, duration, WALL, WALL, 3, version)


# (lease, observed before, now, expected action, expected observation since, expected expiry)
CASES = [
    # Nobody ever held it.
    (None, None, 50.0, Action.CREATE, None, None),
    # Ours (a renewal, or a restart under the same pod name): renew, whatever the clocks say.
    (held(ME), None, 50.0, Action.RENEW, 50.0, None),
    (held(ME), Observation("100", 0.0), 50.0, Action.RENEW, 0.0, None),
    # Released on a clean shutdown: take it over at once.
    (held(""), None, 50.0, Action.TAKE_OVER, 50.0, None),
    # Someone else's, seen for the first time: the full duration starts now.
    (held(OTHER), None, 50.0, Action.WAIT, 50.0, 65.0),
    # The same version for less than the duration: wait.
    (held(OTHER), Observation("100", 40.0), 54.9, Action.WAIT, 40.0, 55.0),
    # The same version for exactly the duration: expired.
    (held(OTHER), Observation("100", 40.0), 55.0, Action.TAKE_OVER, 40.0, None),
    (held(OTHER), Observation("100", 40.0), 90.0, Action.TAKE_OVER, 40.0, None),
    # It changed (the holder renewed): the duration starts again from now.
    (held(OTHER, "101"), Observation("100", 40.0), 90.0, Action.WAIT, 90.0, 105.0),
    # The holder's own duration wins over ours ...
    (held(OTHER, duration=60), Observation("100", 40.0), 90.0, Action.WAIT, 40.0, 100.0),
    # ... unless it states none, or nonsense.
    (held(OTHER, duration=None), Observation("100", 40.0), 55.0, Action.TAKE_OVER, 40.0, None),
    (held(OTHER, duration=0), Observation("100", 40.0), 54.0, Action.WAIT, 40.0, 55.0),
]


@pytest.mark.parametrize(("lease", "observed", "now", "action", "since", "expires_at"), CASES)
def test_decide(
    lease: LeaseRecord | None,
    observed: Observation | None,
    now: float,
    action: Action,
    since: float | None,
    expires_at: float | None,
) -> None:
    decision = decide(lease, ME, now, DURATION, observed)
    assert decision.action is action
    assert decision.expires_at == expires_at
    if since is None:
        assert decision.observation is None
    else:
        assert lease is not None and decision.observation is not None
        assert decision.observation == Observation(lease.resource_version, since)


@pytest.mark.parametrize(
    "renew_time",
    [WALL - timedelta(days=1), WALL + timedelta(days=1)],
    ids=["holder-clock-behind", "holder-clock-ahead"],
)
def test_the_holders_clock_never_decides(renew_time: datetime) -> None:
    """renewTime comes from another machine's clock: a day off either way changes nothing."""
    lease = LeaseRecord(OTHER, DURATION, renew_time, renew_time, 0, "7")
    first = decide(lease, ME, 1000.0, DURATION)
    assert first.action is Action.WAIT and first.expires_at == 1015.0
    assert decide(lease, ME, 1014.0, DURATION, first.observation).action is Action.WAIT
    assert decide(lease, ME, 1015.0, DURATION, first.observation).action is Action.TAKE_OVER


def test_a_holder_that_keeps_renewing_is_never_taken_over() -> None:
    observed: Observation | None = None
    for step in range(100):
        now = step * 2.0  # a renewal every 2 s, each a new resourceVersion
        decision = decide(held(OTHER, str(step)), ME, now, DURATION, observed)
        assert decision.action is Action.WAIT
        observed = decision.observation


def test_claim_creates_renews_and_takes_over() -> None:
    later = WALL + timedelta(seconds=30)
    created = claim(None, ME, WALL, DURATION)
    assert created == LeaseRecord(ME, DURATION, WALL, WALL, 0, "")

    renewed = claim(held(ME), ME, later, DURATION)
    # Renewing keeps acquireTime and the transition count, and swaps on the version read.
    assert renewed == LeaseRecord(ME, DURATION, WALL, later, 3, "100")

    taken = claim(held(OTHER, duration=60), ME, later, DURATION)
    assert taken == LeaseRecord(ME, DURATION, later, later, 4, "100")

    after_release = claim(released(held(OTHER), WALL), ME, later, DURATION)
    assert after_release.holder == ME and after_release.transitions == 4


def test_released_names_nobody_and_keeps_the_version_to_swap_on() -> None:
    later = WALL + timedelta(seconds=5)
    lease = released(held(ME), later)
    assert lease == LeaseRecord("", 1, WALL, later, 3, "100")
    # The next reader takes it over at once, without waiting out any duration.
    assert decide(lease, OTHER, 0.0, DURATION).action is Action.TAKE_OVER
