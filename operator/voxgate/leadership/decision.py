"""What a replica should do about the operator's Lease: pure functions, no I/O, no clocks.

The rule is client-go's leaderelection, so that voxgate behaves the way an operator built on
controller-runtime does:

- no Lease: create it, naming ourselves;
- a Lease naming us: renew it;
- a Lease naming nobody (released on a clean shutdown): take it over at once;
- a Lease naming someone else: take it over only once it has not changed for its
  leaseDurationSeconds *as observed by us*. Its renewTime is written by another machine's clock,
  so it is never compared with ours: instead we remember when (on our monotonic clock) we first
  saw each resourceVersion, and the holder's lease counts as expired when that version is still
  the current one leaseDurationSeconds later. Clock skew between replicas then cannot shorten a
  lease; only a difference in clock *rates* could, which the renew deadline's margin absorbs.

Every write the caller makes from a decision is a compare-and-swap on the resourceVersion it read,
so two replicas that decide to take over at the same moment cannot both succeed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Action(StrEnum):
    CREATE = "create"  # there is no Lease: create it, naming us
    TAKE_OVER = "take-over"  # released, or someone else's and expired: write it naming us
    RENEW = "renew"  # ours: write a new renewTime
    WAIT = "wait"  # someone else's and not expired: look again later


@dataclass(frozen=True)
class LeaseRecord:
    """The Lease's spec as the elector uses it, plus the resourceVersion it was read at."""

    holder: str = ""  # empty: nobody holds it
    duration_seconds: int | None = None
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0
    resource_version: str = ""


@dataclass(frozen=True)
class Observation:
    """A version of the Lease and the moment, on our monotonic clock, we first saw it."""

    resource_version: str
    since: float


@dataclass(frozen=True)
class Decision:
    action: Action
    # What the caller passes to the next decide(): when the current version was first seen.
    observation: Observation | None
    # For WAIT: the monotonic time at which the holder's lease expires unless it changes.
    expires_at: float | None = None


def decide(
    lease: LeaseRecord | None,
    identity: str,
    now: float,
    lease_duration: int,
    observed: Observation | None = None,
) -> Decision:
    """What `identity` should do about `lease` at monotonic time `now`.

    `observed` is the observation of the previous decision (None at the start); `lease_duration`
    applies when the Lease does not state its own. The holder's own leaseDurationSeconds wins
    otherwise: it is the holder's promise of how long it may go without renewing.
    """
    if lease is None:
        return Decision(Action.CREATE, None)
    if observed is None or observed.resource_version != lease.resource_version:
        observed = Observation(lease.resource_version, now)
    if lease.holder == identity:
        return Decision(Action.RENEW, observed)
    if not lease.holder:
        return Decision(Action.TAKE_OVER, observed)
    duration = lease.duration_seconds
    if duration is None or duration <= 0:
        duration = lease_duration
    expires_at = observed.since + duration
    if now < expires_at:
        return Decision(Action.WAIT, observed, expires_at)
    return Decision(Action.TAKE_OVER, observed)


def claim(
    lease: LeaseRecord | None, identity: str, at: datetime, lease_duration: int
) -> LeaseRecord:
    """The record that makes `identity` the holder from wall time `at`.

    Renewing keeps acquireTime and the transition count; taking over from anyone else (or from
    nobody) counts one more transition. The resourceVersion is the one read, for the swap.
    """
    if lease is None:
        return LeaseRecord(identity, lease_duration, at, at, 0, "")
    if lease.holder == identity:
        return dataclasses.replace(
            lease,
            duration_seconds=lease_duration,
            acquire_time=lease.acquire_time or at,
            renew_time=at,
        )
    return dataclasses.replace(
        lease,
        holder=identity,
        duration_seconds=lease_duration,
        acquire_time=at,
        renew_time=at,
        transitions=lease.transitions + 1,
    )


def released(lease: LeaseRecord, at: datetime) -> LeaseRecord:
    """The record a holder writes on a clean shutdown: no holder, so a standby need not wait
    for the lease to expire (client-go writes the same, with a 1 s duration)."""
    return dataclasses.replace(lease, holder="", duration_seconds=1, renew_time=at)
