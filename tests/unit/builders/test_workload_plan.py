"""WorkloadPlan refuses inputs that would make an unsafe or inconsistent workload, in one line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from voxgate.builders import WorkloadPlanError
from voxgate.privacy.params import DPSGDParams

if TYPE_CHECKING:
    from tests.unit.builders.conftest import Inputs


def _denied(i: Inputs) -> None:
    i.allowed = False


def _no_uid(i: Inputs) -> None:
    del i.job["metadata"]["uid"]


def _long_name(i: Inputs) -> None:
    i.job["metadata"]["name"] = "a" * 49


def _upper_name(i: Inputs) -> None:
    i.job["metadata"]["name"] = "Asr"


def _no_namespace(i: Inputs) -> None:
    del i.job["metadata"]["namespace"]


def _other_dataset(i: Inputs) -> None:
    i.dataset["metadata"]["name"] = "voicemail-2019"


def _dataset_in_other_namespace(i: Inputs) -> None:
    i.dataset["metadata"]["namespace"] = "team-asr"


def _no_claim(i: Inputs) -> None:
    del i.dataset["spec"]["storage"]["pvc"]


def _climbing_path(i: Inputs) -> None:
    i.dataset["spec"]["storage"]["pvc"]["path"] = "/v1/../../etc"


def _manifest_path(i: Inputs) -> None:
    i.dataset["spec"]["storage"]["manifest"] = "../manifest.json"


def _no_image(i: Inputs) -> None:
    del i.job["spec"]["image"]


def _args_not_list(i: Inputs) -> None:
    i.job["spec"]["args"] = "--recipe=conformer-m"


def _zero_workers(i: Inputs) -> None:
    i.job["spec"]["workers"] = 0


def _too_many_workers(i: Inputs) -> None:
    i.obligations = replace(i.obligations, max_workers=2)


def _bool_deadline(i: Inputs) -> None:
    i.job["spec"]["activeDeadlineSeconds"] = True


def _dp_required_but_absent(i: Inputs) -> None:
    del i.job["spec"]["privacy"]
    i.dp_params, i.epsilon = None, None


def _privacy_set_but_not_charged(i: Inputs) -> None:
    i.obligations = replace(i.obligations, require_dp=False)
    i.dp_params, i.epsilon = None, None


def _params_differ_from_spec(i: Inputs) -> None:
    i.dp_params = DPSGDParams(noise_multiplier=1.0, sample_rate=0.004, steps=2000, delta=1e-6)


def _no_epsilon(i: Inputs) -> None:
    i.epsilon = None


def _zero_epsilon(i: Inputs) -> None:
    i.epsilon = 0.0


def _charged_without_spec(i: Inputs) -> None:
    del i.job["spec"]["privacy"]


def _bad_caps(i: Inputs) -> None:
    del i.job["spec"]["resources"]
    i.obligations_document["maxResourcesPerWorker"] = ["cpu"]


CASES: list[tuple[Callable[[Inputs], None], str]] = [
    (_denied, "was denied"),
    (_no_uid, "has no metadata.uid"),
    (_long_name, "DNS-1035 label of at most 48"),
    (_upper_name, "DNS-1035 label"),
    (_no_namespace, "metadata.namespace"),
    (_other_dataset, "names dataset speech-data/callcentre-2024, not speech-data/voicemail-2019"),
    (_dataset_in_other_namespace, "not team-asr/callcentre-2024"),
    (_no_claim, "spec.storage.pvc.claimName"),
    (_climbing_path, "spec.storage.pvc.path '/v1/../../etc' is not safe"),
    (_manifest_path, "is not a file name"),
    (_no_image, "spec.image"),
    (_args_not_list, "spec.args must be a list of strings"),
    (_zero_workers, "spec.workers must be a positive integer"),
    (_too_many_workers, "asks for 4 workers; obligations allow 2"),
    (_bool_deadline, "spec.activeDeadlineSeconds must be a positive integer"),
    (_dp_required_but_absent, "obligations require DP"),
    (_privacy_set_but_not_charged, "sets spec.privacy but no DP parameters were charged"),
    (_params_differ_from_spec, "differs from the charged DP parameters"),
    (_no_epsilon, "charged epsilon must be a finite number > 0"),
    (_zero_epsilon, "charged epsilon must be a finite number > 0"),
    (_charged_without_spec, "has no spec.privacy"),
    (_bad_caps, "obligations.maxResourcesPerWorker must be a map of resource quantities"),
]


@pytest.mark.parametrize(("change", "message"), CASES, ids=[c.__name__[1:] for c, _ in CASES])
def test_bad_inputs_are_refused_in_one_line(
    inputs: Inputs, change: Callable[[Inputs], None], message: str
) -> None:
    change(inputs)
    with pytest.raises(WorkloadPlanError, match=r"^[^\n]+$") as raised:
        inputs.plan()
    assert message in str(raised.value)


def test_dataset_in_the_jobs_namespace_when_ref_has_none(inputs: Inputs) -> None:
    del inputs.job["spec"]["datasetRef"]["namespace"]
    inputs.dataset["metadata"]["namespace"] = "team-asr"
    plan = inputs.plan()
    assert (plan.dataset_namespace, plan.dataset_name) == ("team-asr", "callcentre-2024")


def test_the_realistic_plan_reads_back(inputs: Inputs) -> None:
    plan = inputs.plan()
    assert (plan.name, plan.namespace, plan.workers, plan.deadline_seconds) == (
        "asr-callcentre-dp",
        "team-asr",
        4,
        43200,
    )
    assert (plan.claim_name, plan.storage_path, plan.manifest) == (
        "callcentre-2024-sealed",
        "/v1",
        "manifest.json",
    )
