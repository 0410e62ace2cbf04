"""Child names, labels and the owner reference: deterministic and checked."""

from __future__ import annotations

from typing import Any

import pytest

from voxgate.builders import (
    ChildNames,
    WorkloadPlanError,
    child_labels,
    owner_reference,
    selector_labels,
)

JOB: dict[str, Any] = {
    "apiVersion": "voxgate.io/v1alpha1",
    "kind": "TrainingJob",
    "metadata": {"name": "asr-1", "namespace": "team-asr", "uid": "u-1"},
}


def test_child_names_follow_the_contract() -> None:
    names = ChildNames.for_job("asr-1")
    assert names == ChildNames(
        service_account="asr-1-trainer",
        network_policy="asr-1-isolation",
        service="asr-1",
        config_map="asr-1-dp",
        job="asr-1",
    )
    assert names.as_status() == {
        "serviceAccount": "asr-1-trainer",
        "networkPolicy": "asr-1-isolation",
        "service": "asr-1",
        "job": "asr-1",
        "configMap": "asr-1-dp",
    }


def test_the_longest_job_name_gives_names_within_63_characters() -> None:
    names = ChildNames.for_job("a" * 48)
    assert max(len(n) for n in names.as_status().values()) <= 63


@pytest.mark.parametrize("name", ["", "a" * 49, "1abc", "abc-", "Abc", "a.b", "a_b"])
def test_bad_job_names_are_refused(name: str) -> None:
    with pytest.raises(WorkloadPlanError, match="DNS-1035 label"):
        ChildNames.for_job(name)


def test_labels() -> None:
    assert selector_labels("asr-1") == {"voxgate.io/training-job": "asr-1"}
    assert child_labels("asr-1", "callcentre-2024") == {
        "app.kubernetes.io/managed-by": "voxgate",
        "app.kubernetes.io/part-of": "voxgate",
        "app.kubernetes.io/name": "voxgate-trainer",
        "app.kubernetes.io/instance": "asr-1",
        "voxgate.io/training-job": "asr-1",
        "voxgate.io/dataset": "callcentre-2024",
    }
    with pytest.raises(WorkloadPlanError, match="SpeechDataset name"):
        child_labels("asr-1", "Not_A_Label")


def test_owner_reference_makes_the_job_the_controller() -> None:
    assert owner_reference(JOB) == {
        "apiVersion": "voxgate.io/v1alpha1",
        "kind": "TrainingJob",
        "name": "asr-1",
        "uid": "u-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({}, "TrainingJob has no metadata"),
        ({"metadata": {"uid": "u"}}, "metadata.name is missing"),
        ({"metadata": {"name": "asr-1"}}, "TrainingJob asr-1 has no metadata.uid"),
        ({"metadata": {"name": "asr-1", "uid": ""}}, "has no metadata.uid"),
    ],
)
def test_owner_reference_needs_name_and_uid(job: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkloadPlanError, match=message):
        owner_reference(job)
