from __future__ import annotations

import datetime

import pytest

from voxgate.reconcile.heartbeat import Heartbeat, WatchSilent

T0 = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
S = datetime.timedelta(seconds=1)


def test_silence_is_measured_from_start_until_the_first_beat() -> None:
    beat = Heartbeat(tolerance=60 * S, started=T0)
    assert beat.check(T0 + 30 * S) == 30
    with pytest.raises(WatchSilent, match="61s"):
        beat.check(T0 + 61 * S)


def test_a_beat_resets_the_silence_and_older_beats_do_not_move_it_back() -> None:
    beat = Heartbeat(tolerance=60 * S, started=T0)
    beat.seen(T0 + 50 * S)
    beat.seen(T0 + 10 * S)
    assert beat.check(T0 + 100 * S) == 50
