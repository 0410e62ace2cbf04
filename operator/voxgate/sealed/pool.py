"""Run per-file work on one core (in process) or on several (a bounded pool).

A process pool by default: AES-GCM in `cryptography` holds the GIL, so threads scale only where
the rest of the work (hashing, reads, writes) releases it and dominates, as in unseal. At most 2
tasks per worker are in flight, so memory stays bounded however many files there are.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import Any, TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")


def run_bounded(
    worker: Callable[[Task], Result],
    tasks: Iterable[Task],
    jobs: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    *,
    threads: bool = False,
) -> Generator[Result, None, None]:
    """Results in completion order. Close the iterator (contextlib.closing) to stop early: that
    cancels queued tasks and waits for running ones, so nothing writes after it returns."""
    if jobs <= 1:
        if initializer is not None:
            initializer(*initargs)
        for task in tasks:
            yield worker(task)
        return
    pool: Executor
    if threads:
        pool = ThreadPoolExecutor(jobs, initializer=initializer, initargs=initargs)
    else:
        methods = multiprocessing.get_all_start_methods()
        # fork passes initargs (key material) by memory, not through a pipe, and starts fast.
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        pool = ProcessPoolExecutor(jobs, context, initializer=initializer, initargs=initargs)
    try:
        queue = iter(tasks)
        pending: set[Future[Result]] = set()
        for task in queue:
            pending.add(pool.submit(worker, task))
            if len(pending) >= 2 * jobs:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                following = next(queue, None)
                if following is not None:
                    pending.add(pool.submit(worker, following))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
