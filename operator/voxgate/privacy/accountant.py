"""What DP-SGD costs: epsilon of a run, noise for a target epsilon, composition of many runs.

All numbers come from Google's `dp_accounting`. DP-SGD with Poisson sampling is the event
PoissonSampled(sample_rate, Gaussian(noise)) applied `steps` times; it is handed to the accountant
as one SelfComposedDpEvent, so the cost of the computation does not grow with the step count.

RDP is the default: it is fast, its composition is additive (exactly what the ledger needs, see
ledger.py), and its (epsilon, delta) conversion is the improved one of Canonne, Kamath and Steinke
(2020). PLD gives tighter epsilons at a higher cost; see `pld_value_discretization` for how its
grid is chosen.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import dp_accounting
import numpy as np
from dp_accounting import pld, rdp

from voxgate.privacy.params import (
    Accountant,
    DPSGDParams,
    InvalidDPParams,
    SampledGaussianEvent,
    SampledGaussianRun,
    check_accountant,
    check_delta,
    check_positive,
    check_sample_rate,
    check_steps,
)

# The PLD grid: fine enough to follow the per-step privacy loss (about epsilon / sqrt(steps) for a
# subsampled Gaussian), never finer than 1e-6, and never so fine that the grid over the whole
# composed loss (about epsilon wide) needs more than about 1e5 points.
PLD_RELATIVE_STEP_RESOLUTION = 0.01
PLD_MIN_INTERVAL = 1e-6
PLD_MAX_POINTS = 1e5

# The noise search: noise multipliers outside this range are not DP-SGD anyone should run.
MIN_NOISE = 0.01
MAX_NOISE = 1e4
NOISE_RELATIVE_TOLERANCE = 1e-6


def _dp_event(run: SampledGaussianRun) -> dp_accounting.DpEvent:
    step = dp_accounting.PoissonSampledDpEvent(
        run.sample_rate, dp_accounting.GaussianDpEvent(run.noise_multiplier)
    )
    return dp_accounting.SelfComposedDpEvent(step, run.steps)


def merge_events(runs: Iterable[SampledGaussianRun]) -> tuple[SampledGaussianEvent, ...]:
    """Identical mechanisms compose by adding their step counts; sorted, so order never matters."""
    steps: dict[tuple[float, float], int] = {}
    for run in runs:
        key = (float(run.noise_multiplier), float(run.sample_rate))
        steps[key] = steps.get(key, 0) + run.steps
    return tuple(
        SampledGaussianEvent(noise, rate, count) for (noise, rate), count in sorted(steps.items())
    )


@functools.lru_cache(maxsize=4096)
def _unit_rdp(noise_multiplier: float, sample_rate: float) -> tuple[float, ...]:
    """The RDP curve of one step, over dp_accounting's default orders, as its accountant has it."""
    accountant = rdp.RdpAccountant()
    accountant.compose(
        dp_accounting.PoissonSampledDpEvent(
            sample_rate, dp_accounting.GaussianDpEvent(noise_multiplier)
        )
    )
    return tuple(float(value) for value in accountant.rdp)


@functools.cache
def _rdp_orders() -> tuple[float, ...]:
    return tuple(float(order) for order in rdp.RdpAccountant().orders)


def clear_caches() -> None:
    """Forget cached results (benchmarks time the accountant, not the cache)."""
    _unit_rdp.cache_clear()
    _composed.cache_clear()
    epsilon.cache_clear()


def _rdp_epsilon(events: Iterable[SampledGaussianRun], delta: float) -> float:
    # RdpAccountant adds steps * rdp(step) per event; doing the same sum here with cached per-step
    # curves gives the same numbers (tests check it against one accountant) without recomputing
    # each curve on every ledger update.
    total = np.zeros(len(_rdp_orders()), dtype=np.float64)
    for event in merge_events(events):
        total += event.steps * np.asarray(_unit_rdp(event.noise_multiplier, event.sample_rate))
    value, _order = rdp.compute_epsilon(np.asarray(_rdp_orders()), total, delta)
    return float(value)


def pld_value_discretization(events: Iterable[SampledGaussianRun], delta: float) -> float:
    """The PLD grid interval for these events: see the constants above.

    PLDAccountant rounds pessimistically, so a coarser grid only ever overstates epsilon; the grid
    trades tightness for time, never soundness.
    """

    def scale(runs: Iterable[SampledGaussianRun]) -> float:
        value = _rdp_epsilon(runs, delta)
        return value if math.isfinite(value) else 1e6

    merged = merge_events(events)
    # The finest grid any one mechanism needs, but never more points than the whole composition
    # (about its epsilon wide) can afford.
    finest = min(
        (
            PLD_RELATIVE_STEP_RESOLUTION * scale([event]) / math.sqrt(event.steps)
            for event in merged
        ),
        default=PLD_MIN_INTERVAL,
    )
    return max(PLD_MIN_INTERVAL, finest, scale(merged) / PLD_MAX_POINTS)


def _pld_epsilon(events: Iterable[SampledGaussianRun], delta: float) -> float:
    merged = merge_events(events)
    accountant = pld.PLDAccountant(
        value_discretization_interval=pld_value_discretization(merged, delta)
    )
    accountant.compose(dp_accounting.ComposedDpEvent([_dp_event(event) for event in merged]))
    return float(accountant.get_epsilon(delta))


def composed_epsilon(
    runs: Iterable[SampledGaussianRun], delta: float, accountant: Accountant = "rdp"
) -> float:
    """Epsilon at `delta` of all runs composed in one accountant (not the sum of their epsilons)."""
    delta = check_delta("delta", delta)
    accountant = check_accountant("accountant", accountant)
    events = merge_events(runs)
    if not events:
        return 0.0
    return _composed(events, delta, accountant)


# Keyed by the merged events, which stay few however long the ledger grows (runs with the same
# mechanism merge into one): in a burst every admission and every reservation asks about the
# same ledger plus one identical job, and the RDP conversion was a tenth of the operator's CPU.
@functools.lru_cache(maxsize=4096)
def _composed(events: tuple[SampledGaussianEvent, ...], delta: float, accountant: str) -> float:
    if accountant == "pld":
        return _pld_epsilon(events, delta)
    return _rdp_epsilon(events, delta)


@functools.lru_cache(maxsize=1024)
def epsilon(params: DPSGDParams) -> float:
    """Epsilon of one DP-SGD run at its own delta, with its own accountant.

    Cached: the webhook, the reconciler and the ledger all price the same immutable job spec.
    """
    if params.accountant == "pld":
        return _pld_epsilon([params], params.delta)
    accountant = rdp.RdpAccountant()
    accountant.compose(_dp_event(params))
    return float(accountant.get_epsilon(params.delta))


def summed_epsilon(runs: Iterable[DPSGDParams]) -> float:
    """The plain sum of each run's own epsilon: basic composition, shown beside the composed one."""
    return math.fsum(epsilon(run) for run in runs)


def noise_for_epsilon(
    target_epsilon: float,
    sample_rate: float,
    steps: int,
    delta: float,
    accountant: Accountant = "rdp",
) -> float:
    """The smallest noise multiplier whose epsilon (as `epsilon` computes it) is <= the target.

    Bisection on log(noise) with `epsilon` itself as the oracle, so forward and inverse always
    agree: the returned noise reaches the target, and one relative tolerance less does not.
    """
    target_epsilon = check_positive("target_epsilon", target_epsilon)
    sample_rate = check_sample_rate("sample_rate", sample_rate)
    steps = check_steps("steps", steps)
    delta = check_delta("delta", delta)
    accountant = check_accountant("accountant", accountant)

    def cost(noise: float) -> float:
        return epsilon(DPSGDParams(noise, sample_rate, steps, delta, accountant=accountant))

    if accountant == "pld":
        # PLD is tighter than RDP, so the RDP answer is an upper end; starting there keeps the
        # PLD evaluations away from tiny noise, where its grid would get enormous.
        high = noise_for_epsilon(target_epsilon, sample_rate, steps, delta, "rdp")
        while cost(high) > target_epsilon:
            high *= 1.25
            if high > MAX_NOISE:
                raise InvalidDPParams(
                    "target_epsilon", f"{target_epsilon} is out of reach with PLD"
                )
    else:
        high = 1.0
        while cost(high) > target_epsilon:
            high *= 2
            if high > MAX_NOISE:
                raise InvalidDPParams(
                    "target_epsilon",
                    f"{target_epsilon} is out of reach: noise_multiplier {MAX_NOISE:g} "
                    "still spends more",
                )
    low = high / 2
    while cost(low) <= target_epsilon:
        high, low = low, low / 2
        if low < MIN_NOISE:
            raise InvalidDPParams(
                "target_epsilon",
                f"{target_epsilon} is met even at noise_multiplier {MIN_NOISE}; "
                "ask for a smaller epsilon",
            )
    while high / low > 1 + NOISE_RELATIVE_TOLERANCE:
        middle = math.sqrt(low * high)
        if cost(middle) <= target_epsilon:
            high = middle
        else:
            low = middle
    return high
