"""The input voxgate assembles for every example job matches policies/schema/input.schema.json."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import jsonschema
import pytest

from voxgate.cli.check import assemble, load_objects
from voxgate.policy.inputs import Requester

REPO = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((REPO / "policies/schema/input.schema.json").read_text())
JOBS = sorted((REPO / "examples/jobs").glob("*.yaml"))
NOW = datetime.datetime(2026, 1, 15, 9, tzinfo=datetime.UTC)


@pytest.mark.parametrize("job_file", JOBS, ids=[j.stem for j in JOBS])
def test_assembled_input_matches_the_schema(job_file: Path) -> None:
    objects = load_objects([REPO / "examples/datasets", REPO / "examples/grants", job_file])
    job = next(o for o in objects if o.kind == "TrainingJob")
    document, _ = assemble(job, objects, NOW, None)
    jsonschema.validate(document.document(), SCHEMA)


def test_schema_rejects_an_input_without_a_requester_name() -> None:
    objects = load_objects([REPO / "examples/datasets", REPO / "examples/grants", JOBS[0]])
    job = next(o for o in objects if o.kind == "TrainingJob")
    document, _ = assemble(job, objects, NOW, None)
    body = document.document()
    body["requester"]["username"] = ""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, SCHEMA)


def test_service_account_is_recognised_only_in_the_jobs_namespace() -> None:
    own = Requester("system:serviceaccount:team-asr:trainer").document("team-asr")
    other = Requester("system:serviceaccount:team-other:trainer").document("team-asr")
    assert own["serviceAccount"] == "trainer"
    assert other["serviceAccount"] is None
