"""Fresh reads that concurrent reconcile passes share, without any of them reading older state.

A pass that admits a job reads the dataset, the grants and the ledger from the API server, never
from a cache. In a burst a hundred passes want the same three objects at once, and the API
threads are busy, so their reads wait in a queue. A read that is sent after a pass asked shows
the API server as it was at least as late as that pass's own read would: the pass may take its
answer instead. A pass that asks once a read has been sent starts the next one. Under light load
every read is sent at once and nothing is shared; in a burst, the waiting passes share one read
per object instead of queueing a read each.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class _Read:
    # Set by the API thread just before it sends the request; a caller that finds it still
    # False is certain the request leaves after it asked.
    sent: bool = False
    task: asyncio.Task[Any] | None = None


@dataclass
class SharedReads:
    """`read(key, fetch)` runs the blocking `fetch` on a thread, or joins a read of the same key
    that has not been sent yet. Every caller gets its own deep copy of the answer, unless it is
    immutable, or the error."""

    _waiting: dict[Hashable, _Read] = field(default_factory=dict, init=False, repr=False)

    async def read(
        self, key: Hashable, fetch: Callable[[], Any], *, immutable: bool = False
    ) -> Any:
        """The answer of a read sent after this call began. `immutable` answers (a Ledger) are
        handed to every caller as they are: a copy of a long ledger per pass would cost more than
        the read it saves."""
        pending = self._waiting.get(key)
        if pending is None or pending.sent:
            pending = self._start(key, fetch)
        assert pending.task is not None
        # shield: one caller cancelled (its pass interrupted) does not cancel the others' read.
        answer = await asyncio.shield(pending.task)
        return answer if immutable else copy.deepcopy(answer)

    def _start(self, key: Hashable, fetch: Callable[[], Any]) -> _Read:
        pending = _Read()

        def send() -> Any:
            pending.sent = True
            return fetch()

        def forget(_task: asyncio.Task[Any]) -> None:
            if self._waiting.get(key) is pending:
                del self._waiting[key]

        pending.task = asyncio.ensure_future(asyncio.to_thread(send))
        pending.task.add_done_callback(forget)
        self._waiting[key] = pending
        return pending
