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

import contextlib
import copy
import json
import re
import shutil
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from voxgate.audit.verify import verify_file
from voxgate.devcluster.apiaudit import Writes, writes_by
from voxgate.devcluster.binaries import REPO_ROOT
from voxgate.devcluster.chart import Helm, apply_chart, kube_version, render_local
from voxgate.devcluster.controlplane import ControlPlane, UserCredentials
from voxgate.devcluster.release import LocalRelease

EXAMPLES_DIR = REPO_ROOT / "examples"
# Objects are applied in dependency order: a grant names a dataset, a job names both.
KIND_ORDER = ("Namespace", "SpeechDataset", "DataGrant", "TrainingJob")
EXPECT = re.compile(r"^# voxgate-expect: (admit|deny) ?(\S*)\s*$", re.MULTILINE)
# The job a researcher tries again once the webhooks are on: denied for two reasons at once.
WEBHOOK_EXAMPLE = EXAMPLES_DIR / "jobs" / "deny-two-reasons.yaml"
RESEARCHER = ("alice@example.org", ("team-asr",))
DECISION_ORDER = {"Admitted": 0, "Denied": 1}
# When stdout is no terminal (make, CI logs): wide enough for a reason's first clause.
DEFAULT_SIZE = (140, 24)
MIN_TEXT_WIDTH = 40

Say = Callable[[str], Any]


@dataclass(frozen=True)
class ExampleObject:
    path: Path
    index: int
    manifest: dict[str, object]

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", "?"))

    @property
    def name(self) -> str:
        meta = self.manifest.get("metadata")
        if not isinstance(meta, dict):
            return "?"
        namespace = meta.get("namespace")
        return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


@dataclass(frozen=True)
class Outcome:
    example: ExampleObject
    accepted: bool
    message: str


@dataclass(frozen=True)
class Expectation:
    """What a job's `# voxgate-expect:` comment promises."""

    phase: str
    codes: tuple[str, ...]

    def __str__(self) -> str:
        return "admit" if self.phase == "Admitted" else f"deny {','.join(self.codes)}"


@dataclass(frozen=True)
class JobRow:
    namespace: str
    name: str
    phase: str
    epsilon: float | None
    denials: tuple[tuple[str, str], ...]
    expected: Expectation | None

    @property
    def as_expected(self) -> bool:
        if self.expected is None:
            return True
        # A code can come twice (a limit and a request both over a cap); the comment lists it once.
        codes = tuple(sorted({code for code, _ in self.denials}))
        return (self.phase, codes) == (self.expected.phase, self.expected.codes)


@dataclass
class DemoResult:
    jobs: list[JobRow]
    operator_writes: Writes
    audit_trail: Path
    api_audit_log: Path
    refusal: str


def load_examples(directory: Path) -> list[ExampleObject]:
    """Every Kubernetes object in the YAML files under `directory`, in apply order."""
    found: list[ExampleObject] = []
    for path in sorted(directory.rglob("*.yaml")):
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if isinstance(doc, dict) and "kind" in doc and "apiVersion" in doc:
                found.append(ExampleObject(path, index, doc))

    def order(obj: ExampleObject) -> tuple[int, str, int]:
        rank = KIND_ORDER.index(obj.kind) if obj.kind in KIND_ORDER else len(KIND_ORDER)
        return (rank, str(obj.path), obj.index)

    return sorted(found, key=order)


def expectations(examples: list[ExampleObject]) -> dict[str, Expectation]:
    """namespace/name of each TrainingJob -> what its file's `# voxgate-expect:` line says."""
    found = {}
    for example in examples:
        if example.kind != "TrainingJob":
            continue
        match = EXPECT.search(example.path.read_text())
        if match is None:
            continue
        verb, codes = match.groups()
        phase = "Admitted" if verb == "admit" else "Denied"
        found[example.name] = Expectation(phase, tuple(sorted(filter(None, codes.split(",")))))
    return found


def first_error_line(stderr: str) -> str:
    """kubectl's error reduced to the part that names what is wrong."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "rejected (no message)"
    line = lines[0]
    for prefix in ("Error from server (Invalid): ", "Error from server: ", "error: "):
        line = line.removeprefix(prefix)
    marker = " is invalid: "
    return line.split(marker, 1)[1] if marker in line else line


def terminal_width() -> int:
    return shutil.get_terminal_size(DEFAULT_SIZE).columns


def columns(rows: Sequence[tuple[str, ...]], width: int | None = None) -> list[str]:
    """Rows padded to aligned columns; the last column is wrapped to `width` (the terminal's)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    indent = sum(widths) + 2 * len(widths)
    room = max(MIN_TEXT_WIDTH, (width or terminal_width()) - indent)
    lines = []
    for row in rows:
        head = "".join(cell.ljust(widths[i]) + "  " for i, cell in enumerate(row[:-1]))
        text = textwrap.wrap(row[-1], room, break_on_hyphens=False) or [""]
        lines.append((head + text[0]).rstrip())
        lines += [" " * indent + more for more in text[1:]]
    return lines


def render_rejections(outcomes: list[Outcome], root: Path) -> str:
    accepted = Counter(o.example.kind for o in outcomes if o.accepted)
    lines = ["accepted by the API server: " + ", ".join(f"{n} {k}" for k, n in accepted.items())]
    rejected = [o for o in outcomes if not o.accepted]
    if rejected:
        lines.append(f"rejected by the API server (schema and CEL rules), {len(rejected)}:")
        rows = [("FILE", "KIND", "WHY")]
        rows += [
            (str(o.example.path.relative_to(root)), o.example.kind, o.message) for o in rejected
        ]
        lines += ["  " + line for line in columns(rows, terminal_width() - 2)]
    return "\n".join(lines)


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


def job_rows(jobs: list[dict[str, Any]], expected: Mapping[str, Expectation]) -> list[JobRow]:
    rows = []
    for job in jobs:
        meta, status = job["metadata"], job.get("status") or {}
        denials = (status.get("decision") or {}).get("denials") or []
        epsilon = (status.get("privacy") or {}).get("epsilon")
        rows.append(
            JobRow(
                namespace=meta["namespace"],
                name=meta["name"],
                phase=str(status.get("phase", "no status")),
                epsilon=float(epsilon) if isinstance(epsilon, int | float) else None,
                denials=tuple((str(d["code"]), str(d.get("message", ""))) for d in denials),
                expected=expected.get(f"{meta['namespace']}/{meta['name']}"),
            )
        )
    return sorted(rows, key=lambda r: (DECISION_ORDER.get(r.phase, 2), r.namespace, r.name))


def render_decisions(rows: list[JobRow]) -> str:
    """One line per job, and one more per further reason; a job that surprises is marked."""
    table: list[tuple[str, ...]] = [("NAMESPACE", "TRAININGJOB", "DECISION", "EPSILON", "REASONS")]
    for row in rows:
        epsilon = f"{row.epsilon:.3f}" if row.epsilon is not None else "-"
        reasons = [f"{code}: {message}" for code, message in row.denials] or ["-"]
        if not row.as_expected:
            reasons[0] += f"   <-- UNEXPECTED: examples/ says {row.expected}"
        table.append((row.namespace, row.name, row.phase, epsilon, reasons[0]))
        table += [("", "", "", "", reason) for reason in reasons[1:]]
    admitted = sum(r.phase == "Admitted" for r in rows)
    denied = sum(r.phase == "Denied" for r in rows)
    expected = sum(r.as_expected for r in rows)
    lines = columns(table)
    lines.append(
        f"\n{len(rows)} TrainingJobs: {admitted} admitted, {denied} denied, "
        f"{len(rows) - admitted - denied} undecided; "
        f"{expected} of {len(rows)} as their `# voxgate-expect:` comment says"
    )
    return "\n".join(lines)


def render_writes(writes: Writes, log: Path) -> str:
    """What the operator's identity wrote and was refused, per the API server's audit log."""
    allowed = sum(writes.allowed.values())
    refused = sum(writes.refused.values())
    rows: list[tuple[str, ...]] = [("", "")]
    rows += [("allowed", f"{request} x{n}") for request, n in sorted(writes.allowed.items())]
    rows += [("REFUSED", f"{request} x{n}") for request, n in sorted(writes.refused.items())]
    lines = [
        f"the API server's audit log ({log}):",
        f"  {writes.username} made {allowed} writes and was refused {refused}",
        *("    " + line for line in columns(rows[1:] or [("", "none")])),
    ]
    return "\n".join(lines)


def render_trail(path: Path) -> str:
    """Where voxgate's own audit trail is, whether its chain holds, and what it recorded."""
    result = verify_file(path)
    state = "intact" if result.intact else f"BROKEN at {result.problem}"
    events: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError, AttributeError):
            events[str(json.loads(line).get("event"))] += 1
    recorded = ", ".join(f"{event} x{n}" for event, n in sorted(events.items()))
    return (
        f"voxgate's audit trail ({path}):\n"
        f"  {state}, {result.records} hash-chained records: {recorded}\n"
        f"  .venv/bin/voxgate audit verify {path}\n"
        f"  .venv/bin/voxgate audit show {path}"
    )


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
