"""The examples suite has one case per TrainingJob example, with what its comment promises."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
SUITE = REPO / "policies/suite/examples/suite.yaml"
EXPECT = re.compile(r"^# voxgate-expect: (admit|deny (\S+))$", re.MULTILINE)


def _promises() -> dict[str, tuple[bool, frozenset[str]]]:
    promised = {}
    for job in sorted((EXAMPLES / "jobs").glob("*.yaml")):
        match = EXPECT.search(job.read_text())
        assert match, f"{job} has no voxgate-expect comment"
        codes = frozenset(match.group(2).split(",")) if match.group(2) else frozenset()
        promised[f"jobs/{job.name}"] = (match.group(1) == "admit", codes)
    return promised


def test_suite_has_one_case_per_job_example_with_its_promise() -> None:
    suite = yaml.safe_load(SUITE.read_text())
    cases = {}
    for case in suite["cases"]:
        jobs = [f.split("examples/", 1)[1] for f in case["files"] if "examples/jobs/" in f]
        assert len(jobs) == 1, case["name"]
        expect = case["expect"]
        cases[jobs[0]] = (expect["allow"], frozenset(expect.get("codes", [])))
    assert cases == _promises()
