"""What training code reads inside the pod: the DP-SGD settings the operator charged for.

The operator injects the same settings twice, as environment variables and as a JSON file from a
mounted ConfigMap; `load_dp_settings` reads both and refuses to go on unless they agree, so a
trainer never runs with settings other than the ones the ledger was charged for. `dp_environment`
and `dp_settings_document` are what the operator's pod builder uses: both ends share the names.

No torch, no opacus and no dp_accounting here: this module must import cheaply in any image.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxgate.privacy.params import DPSGDParams, check_positive

ENV_NOISE_MULTIPLIER = "VOXGATE_DP_NOISE_MULTIPLIER"
ENV_MAX_GRAD_NORM = "VOXGATE_DP_MAX_GRAD_NORM"
ENV_SAMPLE_RATE = "VOXGATE_DP_SAMPLE_RATE"
ENV_STEPS = "VOXGATE_DP_STEPS"
ENV_DELTA = "VOXGATE_DP_DELTA"
ENV_EPSILON_BUDGET = "VOXGATE_DP_EPSILON_BUDGET"
ENV_CONFIG_PATH = "VOXGATE_DP_CONFIG"
DEFAULT_CONFIG_PATH = Path("/etc/voxgate/dp/settings.json")
SETTINGS_FILE_NAME = "settings.json"

# Environment variable -> key in settings.json (TrainingJob.spec.privacy names, plus the charged
# epsilon). The file also carries the accountant, which only the file needs.
_FIELDS = {
    ENV_NOISE_MULTIPLIER: "noiseMultiplier",
    ENV_MAX_GRAD_NORM: "maxGradNorm",
    ENV_SAMPLE_RATE: "sampleRate",
    ENV_STEPS: "steps",
    ENV_DELTA: "delta",
    ENV_EPSILON_BUDGET: "epsilon",
}


class DPSettingsError(ValueError):
    """The injected DP settings are missing, malformed or disagree; one line."""


@dataclass(frozen=True)
class DPRuntimeSettings:
    params: DPSGDParams
    epsilon_budget: float

    def opacus_kwargs(self) -> dict[str, float]:
        """Keyword arguments for opacus.PrivacyEngine.make_private."""
        return {
            "noise_multiplier": self.params.noise_multiplier,
            "max_grad_norm": self.params.max_grad_norm,
        }


def dp_settings_document(params: DPSGDParams, epsilon: float) -> dict[str, Any]:
    return {**params.to_spec(), "epsilon": check_positive("epsilon", epsilon)}


def dp_environment(params: DPSGDParams, epsilon: float) -> dict[str, str]:
    """The environment variables for a worker; repr() keeps every float exact on the way back."""
    document = dp_settings_document(params, epsilon)
    return {env: _format(document[key]) for env, key in _FIELDS.items()}


def _format(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _parse_env(name: str, text: str) -> object:
    try:
        return int(text) if _FIELDS[name] == "steps" else float(text)
    except ValueError:
        raise DPSettingsError(f"{name}={text!r} is not a number") from None


def _same(left: object, right: object) -> bool:
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(left, right, rel_tol=1e-12, abs_tol=0.0)
    return left == right


def load_dp_settings(
    environ: Mapping[str, str] | None = None, path: Path | None = None
) -> DPRuntimeSettings:
    """Read the environment and the settings file, check they agree, return typed settings."""
    env = os.environ if environ is None else environ
    config_path = path or Path(env.get(ENV_CONFIG_PATH) or DEFAULT_CONFIG_PATH)
    missing = [name for name in _FIELDS if name not in env]
    if missing:
        raise DPSettingsError(f"DP settings not injected: {', '.join(missing)} unset")
    try:
        document = json.loads(config_path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DPSettingsError(f"cannot read DP settings {config_path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise DPSettingsError(f"DP settings {config_path} is not JSON: {error.msg}") from None
    if not isinstance(document, dict):
        raise DPSettingsError(f"DP settings {config_path} is not a JSON object")
    for name, key in _FIELDS.items():
        from_env = _parse_env(name, env[name])
        if key not in document:
            raise DPSettingsError(f"DP settings {config_path} lack {key!r}")
        if not _same(from_env, document[key]):
            raise DPSettingsError(
                f"{name}={env[name]} disagrees with {key}={document[key]!r} in {config_path}"
            )
    try:
        params = DPSGDParams.from_spec(document)
        epsilon = check_positive("epsilon", document["epsilon"])
    except ValueError as error:
        raise DPSettingsError(f"DP settings {config_path}: {error}") from None
    return DPRuntimeSettings(params, epsilon)
