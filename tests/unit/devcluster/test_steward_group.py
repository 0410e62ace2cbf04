"""One steward group everywhere: the operator's default, the chart's default value, and the group
the examples' stewards are recorded in. The demo installs the chart with its defaults and then
applies examples/, so a second name would make the examples' approvals ones the chart's webhook
refuses."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from voxgate.settings import DEFAULT_STEWARD_GROUP

REPO = Path(__file__).resolve().parents[3]
APPROVALS = ("voxgate.io/approved-by", "voxgate.io/revoked-by")


def test_the_chart_and_the_operator_default_to_the_same_steward_group() -> None:
    values = yaml.safe_load((REPO / "charts" / "voxgate" / "values.yaml").read_text())
    assert values["operator"]["stewardGroup"] == DEFAULT_STEWARD_GROUP


def test_every_approval_in_the_examples_is_by_a_member_of_that_group() -> None:
    approvals = []
    for path in sorted((REPO / "examples" / "grants").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            annotations = (doc or {}).get("metadata", {}).get("annotations", {})
            approvals += [json.loads(annotations[key]) for key in APPROVALS if key in annotations]
    assert len(approvals) >= 10
    for approval in approvals:
        assert DEFAULT_STEWARD_GROUP in approval["groups"], approval
