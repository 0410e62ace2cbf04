"""A token bucket per client address for requests the broker could not authenticate.

Every refusal is audited, so without a limit a flood of requests with no token or a bad one
would grow the audit trail (and the TokenReview load on the API server) without bound. Each 401
takes one token from its address's bucket; an address whose bucket is empty is answered 429
before anything is looked up, whatever it sends, until the bucket refills. Only the first 429 of
such a burst is audited. Authenticated traffic never takes tokens, so a job is limited only if
its own address has been sending unauthenticated requests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_ADDRESSES = 10_000  # buckets kept; full ones are dropped first (they equal a new bucket)


@dataclass
class _Bucket:
    tokens: float
    updated: float
    limited: bool = False  # inside a burst of 429s (only its first one is audited)


@dataclass(frozen=True)
class Limited:
    retry_after_seconds: int
    first_of_burst: bool


class UnauthenticatedLimiter:
    """Not thread-safe: the broker calls it from its event loop only."""

    def __init__(
        self,
        burst: int,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        if burst < 0 or per_second <= 0:
            raise ValueError("the unauthenticated rate limit needs burst >= 0 and a rate > 0")
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self.max_addresses = max_addresses
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.burst > 0

    def check(self, address: str) -> Limited | None:
        """None if a request from `address` may be served now, else how long it must wait."""
        bucket = self._buckets.get(address)
        if not self.enabled or bucket is None:
            return None
        self._refill(bucket)
        if bucket.tokens >= 1:
            bucket.limited = False
            return None
        first = not bucket.limited
        bucket.limited = True
        wait = math.ceil((1 - bucket.tokens) / self.per_second)
        return Limited(max(1, wait), first)

    def charge(self, address: str) -> None:
        """Count one unauthenticated request from `address`."""
        if not self.enabled:
            return
        bucket = self._buckets.get(address)
        if bucket is None:
            self._make_room()
            bucket = self._buckets[address] = _Bucket(float(self.burst), self.clock())
        self._refill(bucket)
        bucket.tokens = max(0.0, bucket.tokens - 1)

    def tracked(self) -> int:
        return len(self._buckets)

    def _refill(self, bucket: _Bucket) -> None:
        now = self.clock()
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now

    def _make_room(self) -> None:
        if len(self._buckets) < self.max_addresses:
            return
        for address, bucket in list(self._buckets.items()):
            self._refill(bucket)
            if bucket.tokens >= self.burst:
                del self._buckets[address]
        while len(self._buckets) >= self.max_addresses:
            # Still full of active senders: forget the longest-known one (dicts keep order).
            del self._buckets[next(iter(self._buckets))]
