"""Keeping the operator's resident memory close to what it really holds (glibc only).

Under a burst, glibc gives each thread that finds the heap busy an arena of its own (up to 8 per
core) and keeps the memory freed in every arena for reuse. The operator's API threads and kopf's
workers therefore left its RSS well above its live data after a burst. Capping the arenas and
trimming free pages now and then keeps it near what is live; bench/operator_bench.py measures the
RSS after a 1,000-TrainingJob burst against the idle figure (bench/results/operator-burst.json).
Elsewhere than glibc (musl) both are no-ops.

The cyclic garbage collector is the other cost of a big heap: a full collection walks every
object it tracks and holds the GIL, and so the event loop that answers the webhooks, meanwhile.
freeze_startup_objects() puts what start-up leaves alive out of its way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
from collections.abc import Mapping
from functools import cache
from typing import Any

# glibc's mallopt parameter for the number of arenas (malloc.h).
M_ARENA_MAX = -8
ARENAS = 2
TRIM_INTERVAL_SECONDS = 10.0


@cache
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if libc is None or not all(hasattr(libc, f) for f in ("mallopt", "malloc_trim")):
        return None
    return libc


def limit_arenas(environ: Mapping[str, str]) -> bool:
    """Cap the arenas; call before any thread starts. True when this call set the cap.

    MALLOC_ARENA_MAX in the environment (which glibc reads itself) takes precedence.
    """
    libc = _libc()
    if libc is None or "MALLOC_ARENA_MAX" in environ:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, ARENAS) == 1)


def trim() -> bool:
    """Give free heap pages back to the system; True when some were."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)


def start_trimming(
    interval: float = TRIM_INTERVAL_SECONDS, stop: threading.Event | None = None
) -> threading.Thread | None:
    """Trim every `interval` seconds on a daemon thread (a trim takes about a millisecond, and
    holds an arena only while it walks it); None where there is nothing to trim with."""
    if _libc() is None:
        return None
    stopping = stop if stop is not None else threading.Event()

    def loop() -> None:
        while not stopping.wait(interval):
            trim()

    thread = threading.Thread(target=loop, name="voxgate-heap-trim", daemon=True)
    thread.start()
    return thread


def freeze_startup_objects() -> int:
    """Move every object alive now out of the cyclic collector's reach; call once, after the
    imports and before the event loop starts. Returns how many objects it froze.

    Imports alone leave some 200,000 tracked objects (modules, classes, the kubernetes client's
    models) that live as long as the process; a full collection walked them all, 40 to 60 ms
    here, while the webhooks waited. Frozen objects are still freed by reference counting, so
    the only cost is that cycles among them (there are none to speak of after start-up) stay.
    """
    gc.collect()  # start-up's own garbage goes now rather than staying frozen
    gc.freeze()
    return gc.get_freeze_count()
