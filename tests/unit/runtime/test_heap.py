"""The operator's heap tuning: capped arenas and periodic trims, and what it leaves alone."""

from __future__ import annotations

import gc
import threading

from voxgate import heap


def test_the_environment_wins_over_the_cap() -> None:
    assert heap.limit_arenas({"MALLOC_ARENA_MAX": "4"}) is False


def test_the_cap_is_set_where_glibc_is() -> None:
    assert heap.limit_arenas({}) is (heap._libc() is not None)


def test_a_trim_gives_pages_back_after_a_burst_of_small_allocations() -> None:
    if heap._libc() is None:  # musl: nothing to trim with, and trim() says so
        assert heap.trim() is False
        return
    # Many allocations below glibc's mmap threshold, most then freed: the pages stay in the heap
    # until a trim hands them back.
    chunks = [bytes(64 * 1024) for _ in range(2_000)]
    del chunks[1:]
    assert heap.trim() is True


def test_trimming_runs_on_a_daemon_thread_until_stopped() -> None:
    stop = threading.Event()
    thread = heap.start_trimming(interval=0.01, stop=stop)
    if heap._libc() is None:
        assert thread is None
        return
    assert thread is not None and thread.daemon and thread.is_alive()
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_start_up_objects_are_frozen_out_of_full_collections() -> None:
    survivor: list[list[int]] = [[i] for i in range(1_000)]  # lists: tracked by the collector
    assert id(survivor[0]) in {id(o) for o in gc.get_objects()}
    try:
        frozen = heap.freeze_startup_objects()
        assert frozen >= len(survivor) and gc.get_freeze_count() == frozen
        # No generation the collector walks holds them any more.
        assert id(survivor[0]) not in {id(o) for o in gc.get_objects()}
    finally:
        gc.unfreeze()
