"""`voxgate check` on bad input: one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from voxgate.cli.main import main

REPO = Path(__file__).resolve().parents[3]
JOB = REPO / "examples/jobs/admit-asr-callcentre-dp.yaml"
DATASETS = REPO / "examples/datasets"


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["check", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("voxgate: error: ")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _error(capsys, "-f", str(tmp_path / "nope.yaml"))
    assert "nope.yaml: no such file or directory" in err


def test_invalid_yaml_names_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text("apiVersion: voxgate.io/v1alpha1\nkind: TrainingJob\nspec: [unclosed\n")
    err = _error(capsys, "-f", str(bad))
    assert "job.yaml: invalid YAML (line" in err


def test_object_of_the_wrong_kind(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pod = tmp_path / "pod.yaml"
    pod.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    err = _error(capsys, "-f", str(JOB), "-f", str(pod))
    assert "Pod is not something voxgate check evaluates" in err


def test_not_a_kubernetes_object(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    scalar = tmp_path / "list.yaml"
    scalar.write_text("- just\n- a list\n")
    assert "is not a Kubernetes object" in _error(capsys, "-f", str(scalar))


def test_dataset_the_job_does_not_reference(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(DATASETS / "synthetic-voices.yaml", other)
    err = _error(capsys, "-f", str(JOB), "-f", str(other))
    assert "uses dataset speech-data/callcentre-2024, which is not among the files given" in err


def test_no_training_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert "no TrainingJob" in _error(capsys, "-f", str(DATASETS))


def test_bad_now(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, "-f", str(JOB), "-f", str(DATASETS), "--now", "tomorrow")
    assert "--now 'tomorrow' is not an RFC 3339 time" in err


def test_files_and_suite_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    assert "either -f PATH" in _error(capsys)


def test_suite_that_is_not_a_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert "not a PolicySuite" in _error(capsys, "--suite", str(JOB))


def test_invalid_privacy_parameters(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(JOB.read_text().replace("noiseMultiplier: ", "noiseMultiplier: -"))
    err = _error(capsys, "-f", str(job), "-f", str(DATASETS))
    assert "spec.privacy" in err and "noise" in err.lower()
