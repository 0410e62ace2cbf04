"""The demo's pure parts: expectations from examples/, the decisions table, the chart's settings
and webhook configurations as the local release uses them, and the API server audit summary."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from voxgate.devcluster.apiaudit import writes_by
from voxgate.devcluster.chart import operator_environment, webhook_configurations_at
from voxgate.devcluster.controlplane import ControlPlaneError
from voxgate.devcluster.examples import Expectation, expectations, load_examples
from voxgate.devcluster.report import JobRow, columns, job_rows, render_decisions

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_every_example_job_has_an_expectation() -> None:
    found = expectations(load_examples(EXAMPLES))
    assert len(found) == 25
    assert found["team-asr/asr-callcentre-quick"] == Expectation(
        "Denied", ("DPRequired", "RegistryNotApproved")
    )
    assert found["team-asr/asr-callcentre-dp"] == Expectation("Admitted", ())


def test_examples_are_applied_in_dependency_order() -> None:
    kinds = [e.kind for e in load_examples(EXAMPLES)]
    assert kinds.index("TrainingJob") > kinds.index("DataGrant") > kinds.index("SpeechDataset")
    assert kinds[0] == "Namespace"


def job(name: str, phase: str, codes: list[str], namespace: str = "team-asr") -> dict[str, Any]:
    denials = [{"code": c, "message": f"{c} because"} for c in codes]
    return {
        "metadata": {"namespace": namespace, "name": name},
        "status": {"phase": phase, "decision": {"denials": denials}},
    }


def test_rows_are_sorted_admitted_first_then_by_name_and_checked() -> None:
    expected = {
        "team-asr/b": Expectation("Denied", ("ResourcesExceedTierCap",)),
        "team-asr/c": Expectation("Admitted", ()),
    }
    rows = job_rows(
        [
            job("b", "Denied", ["ResourcesExceedTierCap", "ResourcesExceedTierCap"]),
            job("a", "Denied", ["NoActiveGrant"], namespace="team-other"),
            job("c", "Denied", ["DPRequired"]),
            job("d", "Admitted", []),
        ],
        expected,
    )
    assert [(r.namespace, r.name) for r in rows] == [
        ("team-asr", "d"),
        ("team-asr", "b"),
        ("team-asr", "c"),
        ("team-other", "a"),
    ]
    # A code twice still matches a comment listing it once; a job without comment is no surprise.
    assert [r.as_expected for r in rows] == [True, True, False, True]


def test_the_table_shows_every_reason_and_marks_a_surprise() -> None:
    denials = (("DPRequired", "x"), ("RegistryNotApproved", "y"))
    rows = [JobRow("team-asr", "quick", "Denied", None, denials, Expectation("Admitted", ()))]
    text = render_decisions(rows)
    lines = text.splitlines()
    assert lines[1].startswith("team-asr   quick        Denied    -        DPRequired: x")
    assert "UNEXPECTED: examples/ says admit" in lines[1]
    assert lines[2].strip() == "RegistryNotApproved: y"
    assert "0 of 1 as their" in text


def test_the_last_column_wraps_under_itself() -> None:
    lines = columns([("A", "TEXT"), ("row", "word " * 30)], width=60)
    assert all(len(line) <= 60 for line in lines)
    assert lines[2].startswith(" " * 5) and lines[2].strip()


CHART_POD = {
    "kind": "StatefulSet",
    "metadata": {"name": "voxgate", "namespace": "voxgate-system"},
    "spec": {"template": {"spec": {"containers": [
        {"name": "opa"},
        {"name": "operator", "env": [
            {"name": "VOXGATE_NAMESPACE",
             "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "VOXGATE_STEWARD_GROUP", "value": "voxgate-stewards"},
        ]},
    ]}}},
}  # fmt: skip


def test_the_charts_settings_are_read_from_the_operator_container() -> None:
    assert operator_environment([CHART_POD]) == {
        "VOXGATE_NAMESPACE": "voxgate-system",
        "VOXGATE_STEWARD_GROUP": "voxgate-stewards",
    }


def test_a_setting_that_needs_a_pod_is_refused() -> None:
    pod = json.loads(json.dumps(CHART_POD))
    env = pod["spec"]["template"]["spec"]["containers"][1]["env"]
    env.append({"name": "VOXGATE_X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}})
    with pytest.raises(ControlPlaneError, match="VOXGATE_X"):
        operator_environment([pod])


def test_webhooks_are_pointed_at_a_url_and_keep_everything_else() -> None:
    config = {
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "voxgate"},
        "webhooks": [{
            "name": "validate-trainingjob.voxgate.io",
            "clientConfig": {"caBundle": "b2xk", "service": {"name": "voxgate-webhook",
                                                              "path": "/validate-trainingjob"}},
            "failurePolicy": "Fail",
        }],
    }  # fmt: skip
    [moved] = webhook_configurations_at([config, CHART_POD], "https://127.0.0.1:9443", b"CA")
    webhook = moved["webhooks"][0]
    assert webhook["clientConfig"] == {
        "url": "https://127.0.0.1:9443/validate-trainingjob",
        "caBundle": base64.b64encode(b"CA").decode(),
    }
    assert webhook["failurePolicy"] == "Fail"
    assert "url" not in config["webhooks"][0]["clientConfig"]  # type: ignore[index]


def test_writes_are_counted_per_request_and_refusals_apart(tmp_path: Path) -> None:
    sa = "system:serviceaccount:voxgate-system:voxgate"

    def event(user: str, verb: str, resource: str, code: int, **ref: str) -> str:
        return json.dumps({
            "stage": "ResponseComplete", "user": {"username": user}, "verb": verb,
            "objectRef": {"resource": resource, **ref}, "responseStatus": {"code": code},
        })  # fmt: skip

    log = tmp_path / "audit.log"
    status = {"apiGroup": "voxgate.io", "subresource": "status"}
    lines = [
        event(sa, "patch", "trainingjobs", 200, **status),
        event(sa, "patch", "trainingjobs", 200, **status),
        event(sa, "create", "pods", 403),
        event("admin", "create", "pods", 201),
        '{"truncated',
    ]
    log.write_text("\n".join(lines))
    writes = writes_by(log, sa)
    assert dict(writes.allowed) == {"patch trainingjobs.voxgate.io/status": 2}
    assert dict(writes.refused) == {"create pods": 1}
    assert writes.total == 3
