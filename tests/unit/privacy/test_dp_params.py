"""Bad DP parameters are refused with one line that names the field."""

from __future__ import annotations

import math
from typing import Any

import pytest

from voxgate.privacy.accountant import composed_epsilon, noise_for_epsilon
from voxgate.privacy.params import DPSGDParams, InvalidDPParams, SampledGaussianEvent

GOOD: dict[str, Any] = {
    "noise_multiplier": 1.1,
    "sample_rate": 0.004,
    "steps": 1000,
    "delta": 1e-5,
    "max_grad_norm": 1.0,
    "accountant": "rdp",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("noise_multiplier", -1.0),
        ("noise_multiplier", 0.0),
        ("noise_multiplier", math.nan),
        ("noise_multiplier", math.inf),
        ("noise_multiplier", True),
        ("noise_multiplier", "1.1"),
        ("sample_rate", 0.0),
        ("sample_rate", 1.5),
        ("sample_rate", -0.1),
        ("steps", 0),
        ("steps", -5),
        ("steps", 2.5),
        ("steps", "100"),
        ("delta", 1.0),
        ("delta", 0.0),
        ("delta", 2.0),
        ("max_grad_norm", 0.0),
        ("accountant", "moments"),
    ],
)
def test_bad_values_name_the_field_in_one_line(field: str, value: object) -> None:
    with pytest.raises(InvalidDPParams) as error:
        DPSGDParams(**{**GOOD, field: value})
    assert error.value.field == field
    assert str(error.value).startswith(field)
    assert "\n" not in str(error.value)
    assert isinstance(error.value, ValueError)


def test_edges_that_are_allowed() -> None:
    params = DPSGDParams(**{**GOOD, "sample_rate": 1.0, "steps": 1e4})
    assert params.steps == 10_000 and isinstance(params.steps, int)
    as_int = DPSGDParams(**{**GOOD, "noise_multiplier": 1})
    assert as_int == DPSGDParams(**{**GOOD, "noise_multiplier": 1.0})
    assert isinstance(as_int.noise_multiplier, float)


def test_spec_round_trip_and_missing_fields() -> None:
    params = DPSGDParams(**GOOD)
    assert DPSGDParams.from_spec(params.to_spec()) == params
    spec = params.to_spec()
    del spec["sampleRate"]
    with pytest.raises(InvalidDPParams, match=r"^sampleRate is required$"):
        DPSGDParams.from_spec(spec)


def test_events_are_validated_too() -> None:
    with pytest.raises(InvalidDPParams, match=r"^steps "):
        SampledGaussianEvent(1.0, 0.1, 0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target_epsilon": -1.0}, "target_epsilon"),
        ({"target_epsilon": 0.0}, "target_epsilon"),
        ({"sample_rate": 0.0}, "sample_rate"),
        ({"steps": 0}, "steps"),
        ({"delta": 1.0}, "delta"),
        ({"accountant": "gdp"}, "accountant"),
    ],
)
def test_noise_search_rejects_bad_input(kwargs: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {
        "target_epsilon": 3.0,
        "sample_rate": 0.004,
        "steps": 1000,
        "delta": 1e-5,
        "accountant": "rdp",
    }
    with pytest.raises(InvalidDPParams) as error:
        noise_for_epsilon(**{**arguments, **kwargs})
    assert error.value.field == field


def test_unreachable_targets_are_one_line_errors() -> None:
    with pytest.raises(InvalidDPParams, match="is met even at noise_multiplier"):
        noise_for_epsilon(1e9, 0.001, 10, 1e-5)


def test_composition_checks_its_delta() -> None:
    with pytest.raises(InvalidDPParams, match=r"^delta "):
        composed_epsilon([DPSGDParams(**GOOD)], 0.0)
