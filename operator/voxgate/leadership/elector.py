"""`LeaderElector`: become the one replica that reconciles, stay it, and know when it stopped.

See the package docstring for how the operator uses it. The elector runs the pure rule in
voxgate.leadership.decision against the real Lease (LeaseStore, synchronous, so every call goes
through asyncio.to_thread). Its own safety rule, as client-go's: a leader counts itself the leader
only until `renew_deadline` after the *start* of its last successful renewal. Others may take
over only after observing that renewal unchanged for `lease_duration` (> renew_deadline), and
their observation began after the renewal was sent, so the old leader has always stopped
believing before a new one starts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from kubernetes import client

from voxgate.leadership.decision import (
    Action,
    LeaseRecord,
    Observation,
    claim,
    decide,
    released,
)
from voxgate.leadership.identity import default_identity
from voxgate.leadership.leases import LeaseConflict, LeaseError, LeaseStore
from voxgate.leadership.timing import ElectionTiming
from voxgate.metrics import LEADER
from voxgate.settings import OperatorSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


class LeadershipLost(RuntimeError):
    """acquire() on an elector whose leadership was lost: the process is meant to exit."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    """One replica's part in the election for one Lease. See the package docstring."""

    def __init__(
        self,
        leases: LeaseStore,
        identity: str,
        timing: ElectionTiming | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.leases = leases
        self.identity = identity
        self.timing = timing or ElectionTiming()
        # Set once, when a leader fails to renew for renew_deadline or finds the Lease held by
        # someone else. Never cleared: the process should exit and start again.
        self.lost = asyncio.Event()
        self._clock = clock
        self._wall_clock = wall_clock
        self._observed: Observation | None = None
        # Monotonic start of the last successful write naming us; None while not leading.
        self._renewed_at: float | None = None
        self._renewing: asyncio.Task[None] | None = None
        # A thread of its own for the Lease calls: on the loop's default executor they would
        # queue behind the reconcilers' API calls, and a burst of work would then cost the
        # Lease itself (a renewal missing its deadline for want of a thread).
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="voxgate-lease")

    @classmethod
    def from_settings(
        cls, api_client: client.ApiClient, settings: OperatorSettings
    ) -> LeaderElector:
        """The elector for the operator's Lease (settings.leader_lease_name in
        settings.namespace), identified by the pod's name."""
        timing = ElectionTiming.from_settings(settings)
        store = LeaseStore(
            api_client,
            settings.namespace,
            settings.leader_lease_name,
            request_timeout=timing.renew_deadline,
        )
        return cls(store, default_identity(settings.replica), timing)

    @property
    def is_leader(self) -> bool:
        """Whether we may act as the leader right now. Computed from the clock, so it turns
        False at the renew deadline even if the renewal task is starved or hung."""
        return not self.lost.is_set() and self._within_deadline()

    @property
    def renewing(self) -> asyncio.Task[None] | None:
        """The background renewal started by acquire() (None before, and after release)."""
        return self._renewing

    async def acquire(self) -> None:
        """Return once we hold the Lease, then keep renewing it in the background."""
        if self.lost.is_set():
            raise LeadershipLost(f"{self.identity} lost {self.leases.where}; start a new elector")
        if self.is_leader:
            return
        while not await self._attempt(acquiring=True):
            await asyncio.sleep(self.timing.acquire_pause())
        LEADER.set(1)
        log.info("%s leads now (%s)", self.identity, self.leases.where)
        self._renewing = asyncio.create_task(self._renew_forever(), name="voxgate-leader-renew")

    async def renew_once(self) -> bool:
        """One renewal (the background task calls this every retry_period); True while we
        still lead. Sets `lost` when the renew deadline has passed or someone else holds the
        Lease; a failed write within the deadline is retried on the next call."""
        if self._renewed_at is None or self.lost.is_set():
            return False
        if self._within_deadline():
            await self._attempt(acquiring=False)
        if not self.lost.is_set() and not self._within_deadline():
            self._lose(f"not renewed for {self.timing.renew_deadline:g}s (renew deadline)")
        return self.is_leader

    async def release(self) -> bool:
        """Stop renewing and, if we still lead, clear the Lease's holder so that a standby
        takes over at once. Call it only after this replica's work has stopped. True if the
        Lease was released; False if we did not lead or the write failed (then the Lease
        simply expires)."""
        task, self._renewing = self._renewing, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        leading = self.is_leader
        self._renewed_at = None  # from here on, nothing may act as the leader
        LEADER.set(0)
        if not leading:
            return False
        try:
            lease = await self._call(self.leases.read, self.timing.renew_deadline)
            if lease is None or lease.holder != self.identity:
                return False
            await self._call(
                self.leases.replace, self.timing.renew_deadline, released(lease, self._now())
            )
        except LeaseError as error:
            log.warning(
                "%s could not release %s (%s); it expires in %ss",
                self.identity,
                self.leases.where,
                error,
                self.timing.lease_duration,
            )
            return False
        log.info("%s released %s", self.identity, self.leases.where)
        return True

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.timing.retry_period)
            if not await self.renew_once():
                return

    async def _attempt(self, *, acquiring: bool) -> bool:
        """Read the Lease and write it naming us if the rule allows; True if that write won."""
        started = self._clock()
        if acquiring:
            budget = self.timing.renew_deadline
        else:
            assert self._renewed_at is not None
            budget = self._renewed_at + self.timing.renew_deadline - started
        try:
            lease = await self._call(self.leases.read, budget)
            decision = decide(
                lease, self.identity, started, self.timing.lease_duration, self._observed
            )
            self._observed = decision.observation
            if not acquiring and decision.action not in (Action.RENEW, Action.CREATE):
                # Someone else wrote the Lease (or cleared it) while we led: we were ousted.
                holder = lease.holder if lease is not None else ""
                self._lose(f"{self.leases.where} is held by {holder or 'nobody'} now")
                return False
            if decision.action is Action.WAIT:
                return False
            record = claim(lease, self.identity, self._now(), self.timing.lease_duration)
            write = self.leases.create if decision.action is Action.CREATE else self.leases.replace
            remaining = budget - (self._clock() - started)
            written = await self._call(write, remaining, record)
        except LeaseConflict as error:
            log.info("%s: %s", self.identity, error)
            return False
        except LeaseError as error:
            log.warning("%s: %s", self.identity, error)
            return False
        self._observed = Observation(written.resource_version, started)
        self._renewed_at = started
        return True

    async def _call(self, function: Callable[..., T], budget: float, *args: LeaseRecord) -> T:
        if budget <= 0:
            raise LeaseError("no time left before the renew deadline")
        call: Awaitable[T] = asyncio.get_running_loop().run_in_executor(
            self._thread, functools.partial(function, *args)
        )
        try:
            return await asyncio.wait_for(call, budget)
        except TimeoutError:
            raise LeaseError(
                f"{self.leases.where}: the API server did not answer within {budget:.1f}s"
            ) from None

    def _within_deadline(self) -> bool:
        renewed_at = self._renewed_at
        return renewed_at is not None and self._clock() - renewed_at < self.timing.renew_deadline

    def _lose(self, reason: str) -> None:
        if self.lost.is_set():
            return
        self.lost.set()
        LEADER.set(0)
        log.error("%s is no longer the leader: %s", self.identity, reason)

    def _now(self) -> datetime:
        return self._wall_clock()
