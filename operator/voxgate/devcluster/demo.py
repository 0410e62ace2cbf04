"""`voxgate dev demo`: the story of examples/ told against a fresh local control plane.

1. the Helm chart is rendered (bin/helm) and applied: CRDs, the operator's ServiceAccount and its
   RBAC, the ValidatingAdmissionPolicy backstop;
2. the API server accepts the valid examples and rejects the invalid ones, naming the field;
3. OPA (the chart's policy bundle) and the operator start as local processes with the chart's
   settings, the operator with a TokenRequest token of the chart's ServiceAccount, so it can do
   exactly what the chart's RBAC grants; every TrainingJob gets its decision;
4. the chart's webhook configurations are pointed at the local operator, and a researcher's
   `kubectl create` of a non-compliant job is refused with every reason;
5. the API server's audit log shows which identity the operator acted as, and voxgate's own
   hash-chained audit trail is left for `voxgate audit verify`.
"""

from __future__ import annotations

import copy
import json
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from voxgate.devcluster.apiaudit import Writes, writes_by
from voxgate.devcluster.binaries import REPO_ROOT
from voxgate.devcluster.chart import Helm, apply_chart, kube_version, render_local
from voxgate.devcluster.controlplane import ControlPlane, UserCredentials
from voxgate.devcluster.examples import (
    EXAMPLES_DIR,
    ExampleObject,
    Outcome,
    expectations,
    first_error_line,
    load_examples,
)
from voxgate.devcluster.release import LocalRelease
from voxgate.devcluster.report import (
    MIN_TEXT_WIDTH,
    JobRow,
    job_rows,
    render_decisions,
    render_rejections,
    render_trail,
    render_writes,
    terminal_width,
)

# The job a researcher tries again once the webhooks are on: denied for two reasons at once.
WEBHOOK_EXAMPLE = EXAMPLES_DIR / "jobs" / "deny-two-reasons.yaml"
RESEARCHER = ("alice@example.org", ("team-asr",))

Say = Callable[[str], Any]


@dataclass
class DemoResult:
    jobs: list[JobRow]
    operator_writes: Writes
    audit_trail: Path
    api_audit_log: Path
    refusal: str


def apply_examples(plane: ControlPlane, examples: list[ExampleObject]) -> list[Outcome]:
    outcomes = []
    for example in examples:
        result = plane.kubectl(
            "apply", "--server-side", "--field-manager=voxgate-demo", "-f", "-",
            input=yaml.safe_dump(example.manifest), check=False,
        )  # fmt: skip
        message = "" if result.returncode == 0 else first_error_line(result.stderr)
        outcomes.append(Outcome(example, result.returncode == 0, message))
    return outcomes


def wait_for_decisions(plane: ControlPlane, timeout: float = 90.0) -> list[dict[str, Any]]:
    """Every TrainingJob once it has left Pending (or whatever it has when time runs out)."""
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        listed = plane.kubectl("get", "trainingjobs", "-A", "-o", "json").stdout
        items = json.loads(listed)["items"]
        phases = [(i.get("status") or {}).get("phase") for i in items]
        if items and all(p not in (None, "Pending") for p in phases):
            break
        time.sleep(0.5)
    return items


def researcher_tries(plane: ControlPlane, release: LocalRelease) -> tuple[str, str]:
    """A researcher creates a non-compliant job with the webhooks on: (command, refusal)."""
    username, groups = RESEARCHER
    researcher = plane.user(username, groups)
    manifest = next(d for d in yaml.safe_load_all(WEBHOOK_EXAMPLE.read_text()) if d)
    job = copy.deepcopy(manifest)
    namespace = job["metadata"]["namespace"]
    job["metadata"]["name"] += "-again"
    _allow_creating_jobs(plane, namespace, researcher)
    result = plane.kubectl(
        "create", "-f", "-", input=yaml.safe_dump(job), user=researcher, check=False
    )
    command = (
        f"kubectl create -f {WEBHOOK_EXAMPLE.relative_to(REPO_ROOT)} "
        f"(as {username}, named {job['metadata']['name']})"
    )
    if result.returncode == 0:
        return command, "CREATED: the webhooks did not refuse it"
    return command, result.stderr.strip()


def _allow_creating_jobs(plane: ControlPlane, namespace: str, user: UserCredentials) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "voxgate-demo-researcher", "namespace": namespace},
        "rules": [{"apiGroups": ["voxgate.io"], "resources": ["trainingjobs"],
                   "verbs": ["get", "list", "watch", "create"]}],
    }  # fmt: skip
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "voxgate-demo-researcher", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "voxgate-demo-researcher"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": user.username}],
    }  # fmt: skip
    plane.kubectl(
        "apply", "--server-side", "--field-manager=voxgate-demo", "-f", "-",
        input=yaml.safe_dump_all([role, binding]),
    )  # fmt: skip


def tell(
    plane: ControlPlane, state_dir: Path, say: Say, out: Say, started: list[LocalRelease]
) -> DemoResult:
    """Everything after the control plane is up; the caller stops what `started` holds."""
    helm = Helm(state_dir / "helm", kube_version())
    manifests = render_local(helm, state_dir / "chart")
    kinds = apply_chart(plane, manifests)
    applied = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    out(f"helm template charts/voxgate, applied: {applied}\n")
    say("applying examples/ as the platform team and the stewards ...\n")
    examples = load_examples(EXAMPLES_DIR)
    out(render_rejections(apply_examples(plane, examples), REPO_ROOT) + "\n")

    release = LocalRelease(plane, manifests, state_dir / "release", supervised=plane.supervised)
    started.append(release)
    say("starting OPA (the chart's policy bundle) and the operator (the chart's settings) ...\n")
    seconds = release.start()
    out(
        f"\nthe operator runs as {release.username} (a TokenRequest token, the chart's RBAC; "
        f"ready in {seconds:.1f}s)\n\n"
    )
    rows = job_rows(wait_for_decisions(plane), expectations(examples))
    out(render_decisions(rows) + "\n")

    say("\nregistering the chart's admission webhooks, pointed at the local operator ...\n")
    release.register_webhooks()
    command, refusal = researcher_tries(plane, release)
    out(f"\nwith the webhooks on, a researcher tries again:\n  $ {command}\n")
    width = max(MIN_TEXT_WIDTH, terminal_width() - 4)
    out("".join(f"    {line}\n" for line in textwrap.wrap(refusal, width)))

    writes = writes_by(plane.audit_log_path, release.username)
    out("\n" + render_writes(writes, plane.audit_log_path) + "\n")
    out("\n" + render_trail(release.audit_path) + "\n")
    out(
        f"\nlogs: {plane.state_dir / 'logs'} (control plane), {release.state_dir} (OPA, operator)\n"
    )
    return DemoResult(rows, writes, release.audit_path, plane.audit_log_path, refusal)


def run(state_dir: Path, *, keep: bool) -> int:
    """The whole demo; 0 when every job got the decision its comment promises and the
    operator was refused nothing."""
    plane = ControlPlane(state_dir, supervised=not keep, audit_log=True)

    def say(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    def out(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    say(f"starting a local control plane in {state_dir} ...\n")
    seconds = plane.start()
    started: list[LocalRelease] = []
    try:
        say(f"control plane ready at {plane.server} in {seconds:.1f}s\n")
        result = tell(plane, state_dir, say, out, started)
        if keep:
            say(f"\nleft running; export KUBECONFIG={plane.kubeconfig}; stop: voxgate dev down\n")
    finally:
        if keep:
            plane.adopt([c for release in started for c in release.components])
        else:
            for release in started:
                release.stop()
            plane.stop()
    surprises = [r for r in result.jobs if not r.as_expected]
    return 1 if surprises or result.operator_writes.refused else 0
