from __future__ import annotations

import datetime

import pytest

from voxgate.reconcile.heartbeat import Heartbeat, WatchSilent, heartbeat_name, parse_beat

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


def test_a_beat_is_read_only_with_a_time_zone() -> None:
    assert parse_beat({"spec": {"beatAt": "2030-01-01T00:00:05+00:00"}}) == T0 + 5 * S
    assert parse_beat({"spec": {"beatAt": "2030-01-01T00:00:05"}}) is None  # whose clock?
    assert parse_beat({"spec": {"beatAt": "five past"}}) is None
    assert parse_beat({"spec": {"beatAt": 5}}) is None
    assert parse_beat({}) is None


def test_the_heartbeat_is_named_after_the_replica() -> None:
    assert heartbeat_name("voxgate-1") == "voxgate-1"
    assert heartbeat_name("") == "voxgate-operator"
