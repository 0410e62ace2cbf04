"""The typed DP-SGD parameters of one training run, validated once at the edge.

Names follow TrainingJob.spec.privacy (camelCase in the API, snake_case here). Validation raises
InvalidDPParams, a ValueError whose one-line message names the offending field, so the webhook,
the CLI and the ledger all reject bad input with the same words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeGuard

Accountant = Literal["rdp", "pld"]
ACCOUNTANTS: tuple[Accountant, ...] = ("rdp", "pld")
DEFAULT_ACCOUNTANT: Accountant = "rdp"
DEFAULT_MAX_GRAD_NORM = 1.0


class InvalidDPParams(ValueError):
    """A DP parameter is out of range or of the wrong type; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field


class SampledGaussianRun(Protocol):
    """Anything that is a Poisson-subsampled Gaussian mechanism applied `steps` times."""

    @property
    def noise_multiplier(self) -> float: ...

    @property
    def sample_rate(self) -> float: ...

    @property
    def steps(self) -> int: ...


def _is_number(value: object) -> TypeGuard[int | float]:
    # bool is an int in Python; `true` for a noise multiplier is a mistake, not 1.0.
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_positive(field: str, value: object) -> float:
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise InvalidDPParams(field, f"must be a finite number > 0, got {value!r}")
    return float(value)


def check_sample_rate(field: str, value: object) -> float:
    if not _is_number(value) or not math.isfinite(value) or not 0 < value <= 1:
        raise InvalidDPParams(field, f"must be in (0, 1], got {value!r}")
    return float(value)


def check_delta(field: str, value: object) -> float:
    if not _is_number(value) or not math.isfinite(value) or not 0 < value < 1:
        raise InvalidDPParams(field, f"must be in (0, 1), got {value!r}")
    return float(value)


def check_steps(field: str, value: object) -> int:
    # 1e4 from JSON or YAML arrives as a float; accept it only when it is a whole number.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidDPParams(field, f"must be an integer >= 1, got {value!r}")
    return value


def check_accountant(field: str, value: object) -> Accountant:
    for name in ACCOUNTANTS:
        if value == name:
            return name
    raise InvalidDPParams(field, f"must be one of {', '.join(ACCOUNTANTS)}, got {value!r}")


@dataclass(frozen=True)
class SampledGaussianEvent:
    """One mechanism applied `steps` times: the unit the accountants compose.

    max_grad_norm and delta are absent on purpose: the clipping norm is the sensitivity the noise
    is scaled to (it cancels out), and delta belongs to the question asked, not to the event.
    """

    noise_multiplier: float
    sample_rate: float
    steps: int

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "noise_multiplier", check_positive("noise_multiplier", self.noise_multiplier)
        )
        object.__setattr__(self, "sample_rate", check_sample_rate("sample_rate", self.sample_rate))
        object.__setattr__(self, "steps", check_steps("steps", self.steps))


@dataclass(frozen=True)
class DPSGDParams:
    """DP-SGD parameters of one training run (TrainingJob.spec.privacy)."""

    noise_multiplier: float
    sample_rate: float
    steps: int
    delta: float
    max_grad_norm: float = DEFAULT_MAX_GRAD_NORM
    accountant: Accountant = DEFAULT_ACCOUNTANT

    def __post_init__(self) -> None:
        # Normalise while checking, so 1 and 1.0 give equal (and equally hashed) params.
        object.__setattr__(
            self, "noise_multiplier", check_positive("noise_multiplier", self.noise_multiplier)
        )
        object.__setattr__(self, "sample_rate", check_sample_rate("sample_rate", self.sample_rate))
        object.__setattr__(self, "steps", check_steps("steps", self.steps))
        object.__setattr__(self, "delta", check_delta("delta", self.delta))
        object.__setattr__(
            self, "max_grad_norm", check_positive("max_grad_norm", self.max_grad_norm)
        )
        object.__setattr__(self, "accountant", check_accountant("accountant", self.accountant))

    @property
    def event(self) -> SampledGaussianEvent:
        return SampledGaussianEvent(self.noise_multiplier, self.sample_rate, self.steps)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> DPSGDParams:
        """Build from TrainingJob.spec.privacy (camelCase keys)."""
        missing = [key for key in _REQUIRED_SPEC_KEYS if key not in spec]
        if missing:
            raise InvalidDPParams(missing[0], "is required")
        return cls(
            noise_multiplier=spec["noiseMultiplier"],
            sample_rate=spec["sampleRate"],
            steps=spec["steps"],
            delta=spec["delta"],
            max_grad_norm=spec.get("maxGradNorm", DEFAULT_MAX_GRAD_NORM),
            accountant=spec.get("accountant", DEFAULT_ACCOUNTANT),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "noiseMultiplier": self.noise_multiplier,
            "maxGradNorm": self.max_grad_norm,
            "sampleRate": self.sample_rate,
            "steps": self.steps,
            "delta": self.delta,
            "accountant": self.accountant,
        }


_REQUIRED_SPEC_KEYS = ("noiseMultiplier", "sampleRate", "steps", "delta")
