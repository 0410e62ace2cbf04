"""Properties every DP accountant answer must have, over a realistic range of DP-SGD settings."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from voxgate.privacy.accountant import epsilon, noise_for_epsilon
from voxgate.privacy.params import DPSGDParams

# Where DP-SGD is run in practice; far outside it dp_accounting's RDP series stop converging.
noises = st.floats(min_value=0.7, max_value=8.0)
rates = st.floats(min_value=1e-4, max_value=0.05)
step_counts = st.integers(min_value=1, max_value=100_000)
deltas = st.sampled_from([1e-3, 1e-5, 1e-7])
# Tolerance for "not smaller": the optimal RDP order may change between the two points.
SLACK = 1e-9


def eps(noise: float, rate: float, steps: int, delta: float) -> float:
    return epsilon(DPSGDParams(noise, rate, steps, delta))


@settings(max_examples=30, deadline=None)
@given(noises, rates, step_counts, st.integers(min_value=1, max_value=100_000), deltas)
def test_epsilon_grows_with_steps(
    noise: float, rate: float, steps: int, more: int, delta: float
) -> None:
    assert eps(noise, rate, steps, delta) <= eps(noise, rate, steps + more, delta) * (1 + SLACK)


@settings(max_examples=30, deadline=None)
@given(noises, rates, st.floats(min_value=1.01, max_value=10.0), step_counts, deltas)
def test_epsilon_grows_with_sample_rate(
    noise: float, rate: float, factor: float, steps: int, delta: float
) -> None:
    assert eps(noise, rate, steps, delta) <= eps(noise, rate * factor, steps, delta) * (1 + SLACK)


@settings(max_examples=30, deadline=None)
@given(noises, st.floats(min_value=1.01, max_value=4.0), rates, step_counts, deltas)
def test_epsilon_falls_with_noise(
    noise: float, factor: float, rate: float, steps: int, delta: float
) -> None:
    assert eps(noise * factor, rate, steps, delta) <= eps(noise, rate, steps, delta) * (1 + SLACK)


@settings(max_examples=8, deadline=None)
@given(st.floats(min_value=0.5, max_value=10.0), rates, step_counts, deltas)
def test_noise_for_epsilon_is_the_smallest_noise_that_reaches_the_target(
    target: float, rate: float, steps: int, delta: float
) -> None:
    noise = noise_for_epsilon(target, rate, steps, delta)
    assert eps(noise, rate, steps, delta) <= target
    # One part in a thousand less noise already overspends: the answer is (near) the smallest.
    assert eps(noise * (1 - 1e-3), rate, steps, delta) > target
