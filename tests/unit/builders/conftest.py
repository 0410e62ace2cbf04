"""Inputs for the builder tests: the admitted call-centre job from examples/ and its dataset.

`inputs` is a fresh, mutable set of inputs per test; a test changes what it is about and calls
`inputs.plan()`, so every other field is the realistic one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from voxgate.builders import WorkloadPlan
from voxgate.policy.decision import Decision, Egress, Obligations
from voxgate.privacy.params import DPSGDParams
from voxgate.settings import OperatorSettings

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
JOB_UID = "6f1c1f5e-3b7a-4c1e-9a55-0d2f3c4b5a69"
EPSILON = 0.5912


def load_kind(path: Path, kind: str) -> dict[str, Any]:
    (document,) = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == kind]
    assert isinstance(document, dict)
    return document


JOB = load_kind(EXAMPLES / "jobs" / "admit-asr-callcentre-dp.yaml", "TrainingJob")
JOB["metadata"]["uid"] = JOB_UID
DATASET = load_kind(EXAMPLES / "datasets" / "callcentre-2024.yaml", "SpeechDataset")
# As policies/voxgate/config/data.yaml has it for the raw tier.
RAW_OBLIGATIONS_DOCUMENT: dict[str, Any] = {
    "tier": "raw",
    "requireDP": True,
    "maxEpsilon": 1.0,
    "minNoiseMultiplier": 1.0,
    "credentialTTLSeconds": 900,
    "egress": {"mode": "deny"},
    "memoryOnlyData": True,
    "maxWorkers": 8,
    "maxResourcesPerWorker": {
        "cpu": "16",
        "memory": "64Gi",
        "nvidia.com/gpu": "2",
        "ephemeral-storage": "10Gi",
    },
    "chargeGrant": "callcentre-team-asr",
}


@dataclass
class Inputs:
    job: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(JOB))
    dataset: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DATASET))
    obligations: Obligations = field(
        default_factory=lambda: Obligations(
            require_dp=True,
            max_epsilon=1.0,
            credential_ttl_seconds=900,
            egress=Egress("deny"),
            memory_only_data=True,
            max_workers=8,
        )
    )
    obligations_document: dict[str, Any] = field(
        default_factory=lambda: copy.deepcopy(RAW_OBLIGATIONS_DOCUMENT)
    )
    allowed: bool = True
    dp_params: DPSGDParams | None = field(
        default_factory=lambda: DPSGDParams.from_spec(JOB["spec"]["privacy"])
    )
    epsilon: float | None = EPSILON
    settings: OperatorSettings = field(default_factory=OperatorSettings)

    def decision(self) -> Decision:
        return Decision(
            allowed=self.allowed,
            denials=(),
            obligations=self.obligations,
            policy_revision="sha256:feedface",
            decision_id="0c6a3c0e-decision",
            obligations_document=self.obligations_document,
        )

    def plan(self) -> WorkloadPlan:
        return WorkloadPlan(
            job=self.job,
            dataset=self.dataset,
            decision=self.decision(),
            dp_params=self.dp_params,
            epsilon=self.epsilon,
            settings=self.settings,
        )


@pytest.fixture
def inputs() -> Inputs:
    return Inputs()
