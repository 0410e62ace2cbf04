"""kube-score, a static analyser of Kubernetes objects, finds nothing to warn about in any
rendering of the chart: no CRITICAL and no WARNING, with the default values and every ci/*.yaml.

kube-score stands in for kube-linter, which the Go module proxy refuses (docs/development.md);
bin/kube-score is built by `make tools` (hack/tools/kubescore). Its default checks run, plus two
optional ones the chart meets (container-seccomp-profile, container-ports-check). Left off: the
optional *-requests-equal-limits checks, which ask for Guaranteed QoS; the operator's pods are
Burstable on purpose (small requests, limits as a bound on a runaway).

The chart's exceptions are kube-score's own per-object annotation, `kube-score/ignore`, on the
StatefulSet, each with a comment in the rendered YAML saying why and each only when it applies
(docs/install.md, "How the chart is tested"). The tests below also show that the run is not
vacuous: a container without limits, or replicas without a spread, do fail.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import yaml

from voxgate.devcluster.binaries import resolve_binary

if TYPE_CHECKING:
    from tests.integration.chart.conftest import Helm, Manifest

pytestmark = pytest.mark.integration

CHART = Path(__file__).resolve().parents[3] / "charts" / "voxgate"
CASES: list[Path | None] = [None, *sorted((CHART / "ci").glob("*.yaml"))]
IDS = ["default" if p is None else p.stem for p in CASES]
OPTIONAL_CHECKS = ("container-seccomp-profile", "container-ports-check")
# kube-score's grades (scorecard.Grade): 1 CRITICAL, 5 WARNING, 7 and 10 OK.
GRADES = {1: "CRITICAL", 5: "WARNING"}
IGNORE_ANNOTATION = "kube-score/ignore"
# The only checks the chart may switch off, and why (the reasons are comments in the template).
ALLOWED_EXCEPTIONS = {
    # Images are pinned by digest: IfNotPresent runs the same bytes, without the registry.
    "container-image-pull-policy",
    # topologySpreadConstraints keep replicas on distinct nodes; kube-score reads only affinity.
    "statefulset-has-host-podantiaffinity",
}
# Kinds the chart renders that kube-score has checks for (it passes over the others).
SCORED_KINDS = {"StatefulSet", "Service", "PodDisruptionBudget", "NetworkPolicy"}


@dataclass(frozen=True)
class Finding:
    obj: str
    check: str
    grade: str
    comments: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.grade} {self.obj} [{self.check}]: {'; '.join(self.comments)}"


@dataclass(frozen=True)
class Report:
    exit_code: int
    scored: dict[str, list[dict[str, Any]]]  # object name -> its checks

    @property
    def findings(self) -> list[Finding]:
        found = []
        for obj, checks in sorted(self.scored.items()):
            for check in checks:
                if check["skipped"] or check["grade"] not in GRADES:
                    continue
                comments = tuple(
                    f"({c['path']}) {c['summary']}" if c.get("path") else c["summary"]
                    for c in check.get("comments") or []
                )
                found.append(Finding(obj, check["check"]["id"], GRADES[check["grade"]], comments))
        return found


def kube_score(manifests: str, kube_version: str) -> Report:
    major_minor = ".".join(kube_version.split(".")[:2])
    args = [str(resolve_binary("kube-score")), "score", "--output-format", "json",
            "--kubernetes-version", f"v{major_minor}", "--exit-one-on-warning"]  # fmt: skip
    for check in OPTIONAL_CHECKS:
        args += ["--enable-optional-test", check]
    result = subprocess.run(
        [*args, "-"], input=manifests, capture_output=True, text=True, timeout=120, check=False
    )
    try:
        objects = cast(list[dict[str, Any]], json.loads(result.stdout))
    except json.JSONDecodeError:
        pytest.fail(f"kube-score gave no JSON (exit {result.returncode}): {result.stderr}")
    scored = {o["object_name"]: o["checks"] for o in objects}
    return Report(result.returncode, scored)


def assert_clean(report: Report, manifests: str) -> None:
    findings = report.findings
    assert not findings, "kube-score:\n" + "\n".join(map(str, findings))
    assert report.exit_code == 0, "kube-score failed without a finding in its JSON"
    # Nothing went unread: every object of a kind kube-score checks was scored.
    expected = {(m["kind"], m["metadata"]["name"]) for m in yaml.safe_load_all(manifests)
                if m and m["kind"] in SCORED_KINDS}  # fmt: skip
    assert [kind for kind, _ in expected].count("StatefulSet") == 1, sorted(expected)
    scored = {(n.split("/", 1)[0], n.rsplit("/", 1)[1]) for n in report.scored}
    assert expected <= scored, f"kube-score did not score {sorted(expected - scored)}"


def checks_of(report: Report, check: str) -> list[Finding]:
    return [f for f in report.findings if f.check == check]


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_kube_score_finds_nothing_critical_or_warning(
    helm: Helm, kube_version: str, values: Path | None
) -> None:
    text = helm.template(values)
    assert_clean(kube_score(text, kube_version), text)


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_every_exception_is_an_allowed_one_and_says_why(helm: Helm, values: Path | None) -> None:
    text = helm.template(values)
    for manifest in yaml.safe_load_all(text):
        if not manifest:
            continue
        metas = [manifest["metadata"]]
        template = manifest.get("spec", {}).get("template")
        if isinstance(template, dict):
            metas.append(template.get("metadata", {}))
        for meta in metas:
            ignored = (meta.get("annotations") or {}).get(IGNORE_ANNOTATION)
            if ignored is None:
                continue
            where = f"{manifest['kind']}/{manifest['metadata']['name']}"
            checks = [c.strip() for c in ignored.split(",")]
            assert set(checks) <= ALLOWED_EXCEPTIONS, f"{where} ignores {checks}"
            for check in checks:
                # The reason is a comment in the rendered YAML: "# <check>: <why>".
                assert re.search(rf"^\s*# {re.escape(check)}: \S", text, re.MULTILINE), (
                    f"{where}: no comment says why {check} is ignored"
                )


# -- the run is not vacuous ---------------------------------------------------------------------


def _statefulset(manifests: list[Manifest]) -> Manifest:
    found = [m for m in manifests if m["kind"] == "StatefulSet"]
    assert len(found) == 1
    return found[0]


def test_a_container_without_limits_is_critical(helm: Helm, kube_version: str) -> None:
    manifests = helm.manifests()
    broken = copy.deepcopy(manifests)
    pod = _statefulset(broken)["spec"]["template"]["spec"]
    opa = next(c for c in pod["containers"] if c["name"] == "opa")
    del opa["resources"]["limits"]
    report = kube_score(yaml.safe_dump_all(broken), kube_version)
    assert report.exit_code != 0
    summaries = [c for f in checks_of(report, "container-resources") for c in f.comments]
    assert "(opa) Memory limit is not set" in summaries, report.findings
    assert "(opa) CPU limit is not set" in summaries, report.findings
    text = yaml.safe_dump_all(manifests)
    assert_clean(kube_score(text, kube_version), text)


def test_a_pod_without_a_seccomp_profile_or_probes_is_critical(
    helm: Helm, kube_version: str
) -> None:
    broken = helm.manifests()
    pod = _statefulset(broken)["spec"]["template"]["spec"]
    del pod["securityContext"]["seccompProfile"]
    operator = next(c for c in pod["containers"] if c["name"] == "operator")
    operator["readinessProbe"] = copy.deepcopy(operator["livenessProbe"])
    report = kube_score(yaml.safe_dump_all(broken), kube_version)
    assert {f.check for f in report.findings} >= {"container-seccomp-profile",
                                                    "pod-probes-identical"}  # fmt: skip


def test_replicas_without_a_host_spread_are_warned_about(
    helm: Helm, kube_version: str, tmp_path: Path
) -> None:
    """The anti-affinity exception exists only while the spread constraint does its job."""
    values = tmp_path / "no-spread.yaml"
    values.write_text(yaml.safe_dump({"topologySpreadConstraints": []}))
    text = helm.template(values)
    annotations = _statefulset(helm.manifests(values))["metadata"].get("annotations") or {}
    assert "statefulset-has-host-podantiaffinity" not in annotations.get(IGNORE_ANNOTATION, "")
    findings = checks_of(kube_score(text, kube_version), "statefulset-has-host-podantiaffinity")
    assert [f.grade for f in findings] == ["WARNING"]


def test_the_pull_policy_exception_goes_with_ifnotpresent(
    helm: Helm, kube_version: str, tmp_path: Path
) -> None:
    values = tmp_path / "always.yaml"
    values.write_text(yaml.safe_dump({"image": {"pullPolicy": "Always"},
                                      "opa": {"image": {"pullPolicy": "Always"}}}))  # fmt: skip
    text = helm.template(values)
    annotations = _statefulset(helm.manifests(values))["metadata"]["annotations"]
    assert "container-image-pull-policy" not in annotations[IGNORE_ANNOTATION]
    assert "# container-image-pull-policy:" not in text
    assert_clean(kube_score(text, kube_version), text)
