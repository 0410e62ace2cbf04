"""The operator's diff-base storage must build exactly kopf's essence, only cheaper."""

from __future__ import annotations

import copy
from typing import Any, cast

import kopf
import pytest

from voxgate.handlers.runtime import LeanDiffBaseStorage

FIELD = "status.kopf.lastHandledConfiguration"


def as_body(raw: dict[str, Any]) -> kopf.Body:
    return kopf.Body(cast(kopf.RawBody, raw))


def training_job() -> dict[str, Any]:
    return {
        "apiVersion": "voxgate.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {
            "name": "asr",
            "namespace": "team",
            "uid": "0f6c",
            "resourceVersion": "42",
            "generation": 3,
            "labels": {"team": "asr"},
            "annotations": {
                "voxgate.io/requested-by": '{"username":"alice","groups":[]}',
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "kopf.zalando.org/last-handled-configuration": "{}",
            },
            "finalizers": ["voxgate.io/operator"],
            "managedFields": [
                {"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {"f:a": {}}}}
            ],
        },
        "spec": {"datasetRef": {"name": "calls"}, "workers": 2, "image": "trainer@sha256:ab"},
        "status": {"phase": "Admitted", "kopf": {"progress": {"training_job": {"retries": 1}}}},
    }


def without(body: dict[str, Any], *paths: tuple[str, ...]) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for path in paths:
        parent = out
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
    return out


@pytest.mark.parametrize(
    "body",
    [
        training_job(),
        without(training_job(), ("metadata", "labels"), ("metadata", "annotations")),
        without(training_job(), ("status",), ("metadata", "managedFields")),
        without(training_job(), ("spec",)),
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}},
    ],
)
def test_the_essence_is_kopfs_own(body: dict[str, Any]) -> None:
    expected = kopf.StatusDiffBaseStorage(field=FIELD).build(body=as_body(body))
    lean = LeanDiffBaseStorage(field=FIELD).build(body=as_body(body))
    assert lean == expected


def test_the_essence_is_detached_from_the_body() -> None:
    body = training_job()
    essence: Any = LeanDiffBaseStorage(field=FIELD).build(body=as_body(body))
    essence["spec"]["datasetRef"]["name"] = "changed"
    essence["metadata"]["labels"]["team"] = "changed"
    assert body["spec"]["datasetRef"]["name"] == "calls"
    assert body["metadata"]["labels"]["team"] == "asr"


def test_extra_fields_are_kept_the_way_kopf_keeps_them() -> None:
    body = training_job()
    extra = ["status.phase"]
    expected = kopf.StatusDiffBaseStorage(field=FIELD).build(body=as_body(body), extra_fields=extra)
    lean = LeanDiffBaseStorage(field=FIELD).build(body=as_body(body), extra_fields=extra)
    assert lean == expected and lean["status"] == {"phase": "Admitted"}
