"""`ElectionTiming`: how long a Lease lasts, how long a leader keeps trying to renew it, and how
often anyone tries; client-go's defaults and rules (settings.election_timing_problem)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from voxgate.settings import (
    DEFAULT_LEADER_LEASE_DURATION_SECONDS,
    DEFAULT_LEADER_RENEW_DEADLINE_SECONDS,
    DEFAULT_LEADER_RETRY_PERIOD_SECONDS,
    LEADER_JITTER_FACTOR,
    OperatorSettings,
    election_timing_problem,
)

# Jitter only spreads standbys' attempts apart; it protects nothing, so any generator will do.
_jitter = random.Random()  # noqa: S311


@dataclass(frozen=True)
class ElectionTiming:
    # Seconds a holder's lease lasts after its last renewal, as others observe it. Whole
    # seconds: the Lease stores it as an integer.
    lease_duration: int = DEFAULT_LEADER_LEASE_DURATION_SECONDS
    # Seconds a leader keeps failing to renew before it gives up (sets `lost`).
    renew_deadline: float = DEFAULT_LEADER_RENEW_DEADLINE_SECONDS
    # Seconds between attempts, to renew or to acquire.
    retry_period: float = DEFAULT_LEADER_RETRY_PERIOD_SECONDS

    def __post_init__(self) -> None:
        problem = election_timing_problem(
            self.lease_duration, self.renew_deadline, self.retry_period
        )
        if problem is not None:
            raise ValueError(problem)

    @classmethod
    def from_settings(cls, settings: OperatorSettings) -> ElectionTiming:
        return cls(
            settings.leader_lease_duration_seconds,
            settings.leader_renew_deadline_seconds,
            settings.leader_retry_period_seconds,
        )

    def acquire_pause(self) -> float:
        """Seconds a standby waits before its next attempt: jittered, so that standbys which
        started together do not keep racing each other."""
        return self.retry_period * (1 + _jitter.uniform(0, LEADER_JITTER_FACTOR))
