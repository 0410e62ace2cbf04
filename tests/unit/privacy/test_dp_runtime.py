"""The runtime helper: the operator's injection and the trainer's reading agree by construction."""

from __future__ import annotations

import ast
import importlib
import json
import sys
from pathlib import Path

import pytest

from voxgate.privacy.params import DPSGDParams
from voxgate.privacy.runtime import (
    ENV_CONFIG_PATH,
    ENV_EPSILON_BUDGET,
    ENV_NOISE_MULTIPLIER,
    ENV_STEPS,
    DPSettingsError,
    dp_environment,
    dp_settings_document,
    load_dp_settings,
)

PARAMS = DPSGDParams(1.1, 256 / 60000, 14063, 1e-5, max_grad_norm=0.7)
EPSILON = 2.596655529521983


def injected(tmp_path: Path) -> tuple[dict[str, str], Path]:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(dp_settings_document(PARAMS, EPSILON)))
    return dp_environment(PARAMS, EPSILON), path


def test_the_names_are_the_ones_training_code_expects() -> None:
    assert dp_environment(PARAMS, EPSILON) == {
        "VOXGATE_DP_NOISE_MULTIPLIER": "1.1",
        "VOXGATE_DP_MAX_GRAD_NORM": "0.7",
        "VOXGATE_DP_SAMPLE_RATE": repr(256 / 60000),
        "VOXGATE_DP_STEPS": "14063",
        "VOXGATE_DP_DELTA": "1e-05",
        "VOXGATE_DP_EPSILON_BUDGET": repr(EPSILON),
    }


def test_what_the_operator_injects_the_trainer_reads_back_exactly(tmp_path: Path) -> None:
    env, path = injected(tmp_path)
    settings = load_dp_settings({**env, ENV_CONFIG_PATH: str(path)})
    assert settings.params == PARAMS
    assert settings.epsilon_budget == EPSILON
    assert settings.opacus_kwargs() == {"noise_multiplier": 1.1, "max_grad_norm": 0.7}


def test_an_explicit_path_wins(tmp_path: Path) -> None:
    env, path = injected(tmp_path)
    assert load_dp_settings(env, path).params == PARAMS


def test_env_and_file_must_agree(tmp_path: Path) -> None:
    env, path = injected(tmp_path)
    with pytest.raises(DPSettingsError, match=r"VOXGATE_DP_NOISE_MULTIPLIER=0\.5 disagrees"):
        load_dp_settings({**env, ENV_NOISE_MULTIPLIER: "0.5"}, path)
    with pytest.raises(DPSettingsError, match="VOXGATE_DP_STEPS=14064 disagrees"):
        load_dp_settings({**env, ENV_STEPS: "14064"}, path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({ENV_EPSILON_BUDGET: "lots"}, "is not a number"),
        ({ENV_STEPS: "1.5"}, "is not a number"),
    ],
)
def test_malformed_env(tmp_path: Path, change: dict[str, str], message: str) -> None:
    env, path = injected(tmp_path)
    with pytest.raises(DPSettingsError, match=message):
        load_dp_settings({**env, **change}, path)


def test_missing_pieces(tmp_path: Path) -> None:
    env, path = injected(tmp_path)
    partial = {k: v for k, v in env.items() if k != ENV_EPSILON_BUDGET}
    with pytest.raises(DPSettingsError, match="VOXGATE_DP_EPSILON_BUDGET unset"):
        load_dp_settings(partial, path)
    with pytest.raises(DPSettingsError, match="cannot read DP settings"):
        load_dp_settings(env, tmp_path / "absent.json")
    path.write_text("{")
    with pytest.raises(DPSettingsError, match="is not JSON"):
        load_dp_settings(env, path)


def test_agreeing_but_invalid_settings_are_refused(tmp_path: Path) -> None:
    env, path = injected(tmp_path)
    document = json.loads(path.read_text())
    document["noiseMultiplier"] = -1.0
    path.write_text(json.dumps(document))
    with pytest.raises(DPSettingsError, match="noise_multiplier must be"):
        load_dp_settings({**env, ENV_NOISE_MULTIPLIER: "-1.0"}, path)


def _imports(module: str) -> set[str]:
    source = Path(importlib.import_module(module).__file__ or "").read_text()
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_runtime_module_stays_light() -> None:
    # Training images import this: no torch, opacus, numpy, dp_accounting or kubernetes, also
    # not through the voxgate modules it imports.
    seen: set[str] = set()
    pending = ["voxgate.privacy.runtime"]
    while pending:
        module = pending.pop()
        seen.add(module)
        for name in _imports(module):
            if name.startswith("voxgate") and name not in seen:
                pending.append(name)
            else:
                assert name.split(".")[0] in sys.stdlib_module_names | {"voxgate"}, (module, name)
    assert seen == {"voxgate.privacy.runtime", "voxgate.privacy.params"}
