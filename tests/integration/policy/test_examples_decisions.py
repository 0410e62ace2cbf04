"""Every example gets the decision its comment promises, from a real OPA server with policies/
loaded, through the same client the operator uses; and the offline path (bin/opa) agrees."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from voxgate.devcluster.opa import OpaServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def policy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpaServer]:
    server = OpaServer(REPO / "policies", tmp_path_factory.mktemp("opa"))
    server.start()
    yield server
    server.stop()


def _check(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voxgate", "check", *argv],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )  # fmt: skip


@pytest.mark.parametrize("suite", ["policies/suite/examples/suite.yaml", "policies/suite.yaml"])
def test_suite_through_the_opa_server(policy_server: OpaServer, suite: str) -> None:
    result = _check("--suite", suite, "--opa-url", policy_server.url, "-o", "json")
    cases = json.loads(result.stdout)
    failed = [c for c in cases if not c["passed"]]
    assert not failed, failed
    assert result.returncode == 0
    assert len(cases) >= 9


def test_suite_offline_with_the_opa_binary() -> None:
    result = _check("--suite", "policies/suite/examples/suite.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("25 passed, 0 failed")


def test_exit_codes_and_reasons_for_a_researcher(policy_server: OpaServer) -> None:
    common = ["-f", "examples/datasets", "-f", "examples/grants", "--now", "2026-01-15T09:00:00Z"]
    admitted = _check(*common, "-f", "examples/jobs/admit-asr-callcentre-dp.yaml")
    assert admitted.returncode == 0, admitted.stderr
    assert "asr-callcentre-dp: ALLOWED" in admitted.stdout
    denied = _check(
        *common, "-f", "examples/jobs/deny-two-reasons.yaml", "--opa-url", policy_server.url
    )
    assert denied.returncode == 1
    assert "DENIED" in denied.stdout
    assert "- DPRequired: " in denied.stdout and "- RegistryNotApproved: " in denied.stdout


def test_policy_revision_matches_what_the_server_loaded(policy_server: OpaServer) -> None:
    result = _check(
        "-f", "examples/datasets", "-f", "examples/grants",
        "-f", "examples/jobs/admit-kws-clinic.yaml", "--now", "2026-01-15T09:00:00Z",
        "--opa-url", policy_server.url, "-o", "json",
    )  # fmt: skip
    [outcome] = json.loads(result.stdout)
    assert outcome["policyRevision"] == policy_server.revision
    assert outcome["decisionId"]
