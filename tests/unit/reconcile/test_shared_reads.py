"""Passes share a fresh read only if it was sent after they asked (voxgate.reconcile.sharedreads).

No processes: the "API" is a function on a one-thread executor whose thread the test holds, so
it decides exactly when a read is sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from voxgate.reconcile.sharedreads import SharedReads


class Api:
    """Counts reads; each answer names the read that produced it."""

    def __init__(self) -> None:
        self.reads = 0
        self.release = threading.Event()
        self.release.set()

    def get(self) -> dict[str, Any]:
        self.reads += 1
        number = self.reads
        self.release.wait(5)
        return {"read": number, "items": [1, 2]}

    def fail(self) -> dict[str, Any]:
        self.reads += 1
        raise ConnectionError("API server unreachable")


def run(test: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        pool = concurrent.futures.ThreadPoolExecutor(1)  # one API thread, held by the test
        asyncio.get_running_loop().set_default_executor(pool)
        try:
            await test()
        finally:
            pool.shutdown(wait=False)

    asyncio.run(main())


async def hold_the_api_thread() -> tuple[threading.Event, asyncio.Future[None]]:
    """The API thread, busy until the returned event is set (with the task that holds it)."""
    held = threading.Event()
    started = threading.Event()

    def block() -> None:
        started.set()
        held.wait(5)

    holder = asyncio.ensure_future(asyncio.to_thread(block))
    while not started.is_set():
        await asyncio.sleep(0.001)
    return held, holder


def test_passes_that_ask_before_the_read_is_sent_share_it() -> None:
    async def test() -> None:
        api, reads = Api(), SharedReads()
        held, _holder = await hold_the_api_thread()  # the read below waits in the queue, unsent
        first = asyncio.ensure_future(reads.read("dataset", api.get))
        second = asyncio.ensure_future(reads.read("dataset", api.get))
        other = asyncio.ensure_future(reads.read("grants", api.get))
        await asyncio.sleep(0.01)
        held.set()
        a, b, c = await asyncio.gather(first, second, other)
        assert api.reads == 2  # one for "dataset", one for "grants"
        assert a == b and a is not b and a["items"] is not b["items"]  # each its own copy
        assert c["read"] != a["read"]

    run(test)


def test_a_pass_that_asks_after_the_read_was_sent_reads_again() -> None:
    async def test() -> None:
        api, reads = Api(), SharedReads()
        api.release.clear()  # the first read is sent and then answers only when told
        first = asyncio.ensure_future(reads.read("dataset", api.get))
        while api.reads == 0:
            await asyncio.sleep(0.001)
        later = asyncio.ensure_future(reads.read("dataset", api.get))
        api.release.set()
        a, b = await asyncio.gather(first, later)
        assert api.reads == 2
        assert (a["read"], b["read"]) == (1, 2)  # the later pass got the later read

    run(test)


def test_a_failed_read_fails_every_pass_that_shared_it_and_is_not_kept() -> None:
    async def test() -> None:
        api, reads = Api(), SharedReads()
        held, _holder = await hold_the_api_thread()
        waiting = [asyncio.ensure_future(reads.read("ledger", api.fail)) for _ in range(3)]
        held.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert api.reads == 1
        assert all(isinstance(r, ConnectionError) for r in results)
        assert (await reads.read("ledger", api.get))["read"] == 2  # a new read, not the failure

    run(test)


def test_one_pass_cancelled_does_not_cancel_the_read_for_the_others() -> None:
    async def test() -> None:
        api, reads = Api(), SharedReads()
        held, _holder = await hold_the_api_thread()
        cancelled = asyncio.ensure_future(reads.read("dataset", api.get))
        kept = asyncio.ensure_future(reads.read("dataset", api.get))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        held.set()
        assert (await kept)["read"] == 1
        with pytest.raises(asyncio.CancelledError):
            await cancelled

    run(test)


def test_an_immutable_answer_is_handed_out_as_it_is() -> None:
    async def test() -> None:
        api, reads = Api(), SharedReads()
        held, _holder = await hold_the_api_thread()
        waiting = [
            asyncio.ensure_future(reads.read("ledger", api.get, immutable=True)) for _ in range(2)
        ]
        await asyncio.sleep(0.01)
        held.set()
        a, b = await asyncio.gather(*waiting)
        assert a is b  # one parsed ledger for every pass, as LedgerStore keeps it

    run(test)
