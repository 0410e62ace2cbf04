"""`voxgate dev demo`: the story of examples/ told against a fresh local control plane.

1. the API server accepts the valid examples and rejects the invalid ones, naming the field;
2. OPA starts with policies/, the voxgate operator starts, and every TrainingJob gets its
   decision: admitted jobs get their locked-down workload, denied ones every reason.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from voxgate.devcluster.binaries import REPO_ROOT
from voxgate.devcluster.controlplane import ControlPlane, ControlPlaneError
from voxgate.devcluster.opa import OpaServer
from voxgate.devcluster.processes import Component, free_port, http_ok

EXAMPLES_DIR = REPO_ROOT / "examples"
CRD_DIR = REPO_ROOT / "crds"
# Objects are applied in dependency order: a grant names a dataset, a job names both.
KIND_ORDER = ("Namespace", "SpeechDataset", "DataGrant", "TrainingJob")


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


def render_table(outcomes: list[Outcome], root: Path) -> str:
    rows = [("RESULT", "KIND", "NAME", "FILE", "MESSAGE")]
    for o in outcomes:
        rows.append(
            (
                "accepted" if o.accepted else "REJECTED",
                o.example.kind,
                o.example.name,
                str(o.example.path.relative_to(root)),
                o.message,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        for row in rows
    )


def apply_examples(plane: ControlPlane, examples: list[ExampleObject]) -> list[Outcome]:
    outcomes = []
    for example in examples:
        result = plane.kubectl(
            "apply",
            "--server-side",
            "--field-manager=voxgate-demo",
            "-f",
            "-",
            input=yaml.safe_dump(example.manifest),
            check=False,
        )
        if result.returncode == 0:
            outcomes.append(Outcome(example, True, ""))
        else:
            outcomes.append(Outcome(example, False, first_error_line(result.stderr)))
    return outcomes


def run(state_dir: Path, *, keep: bool) -> int:
    plane = ControlPlane(state_dir, supervised=not keep)
    say = sys.stderr.write
    say(f"starting a local control plane in {state_dir} ...\n")
    seconds = plane.start()
    try:
        say(f"control plane ready at {plane.server} in {seconds:.1f}s\n")
        plane.kubectl("apply", "--server-side", "--field-manager=voxgate-demo", "-f", str(CRD_DIR))
        plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRD_DIR))
        say("installed the voxgate CRDs; applying examples/ ...\n\n")
        outcomes = apply_examples(plane, load_examples(EXAMPLES_DIR))
        print(render_table(outcomes, REPO_ROOT))
        accepted = sum(o.accepted for o in outcomes)
        print(f"\n{accepted} accepted, {len(outcomes) - accepted} rejected by the API server")
        print("\n" + plane.kubectl("get", "speechdatasets,datagrants", "-A").stdout.rstrip())
        say("\nstarting OPA with policies/ and the voxgate operator ...\n")
        opa = OpaServer(REPO_ROOT / "policies", state_dir / "opa", supervised=not keep)
        opa.start()
        operator = start_operator(plane, opa, state_dir, supervised=not keep)
        try:
            jobs = wait_for_decisions(plane)
            print("\n" + render_decisions(jobs))
        finally:
            if not keep:
                operator.stop()
                opa.stop()
        if keep:
            say(f"\nleft running; export KUBECONFIG={plane.kubeconfig}; stop: voxgate dev down\n")
    finally:
        if not keep:
            plane.stop()
    return 0


def start_operator(
    plane: ControlPlane, opa: OpaServer, state_dir: Path, *, supervised: bool
) -> Component:
    port = free_port()
    env = dict(
        os.environ,
        KUBECONFIG=str(plane.kubeconfig),
        VOXGATE_OPA_URL=opa.url,
        VOXGATE_AUDIT_PATH=str(state_dir / "audit" / "audit.jsonl"),
    )
    operator = Component(
        "voxgate-operator",
        [sys.executable, "-m", "voxgate", "operator", "run", "--metrics-port=0",
         f"--liveness=http://127.0.0.1:{port}/healthz"],
        state_dir / "logs" / "operator.log",
    )  # fmt: skip
    operator.start(supervised=supervised, env=env)
    deadline = time.monotonic() + 60
    while not http_ok(f"http://127.0.0.1:{port}/healthz"):
        if operator.exit_code() is not None or time.monotonic() > deadline:
            raise ControlPlaneError(f"the operator did not start:\n{operator.log_tail()}")
        time.sleep(0.1)
    return operator


def wait_for_decisions(plane: ControlPlane, timeout: float = 60.0) -> list[dict[str, Any]]:
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


def render_decisions(jobs: list[dict[str, Any]]) -> str:
    rows = [("NAMESPACE/NAME", "PHASE", "EPSILON", "REASONS")]
    for job in sorted(jobs, key=lambda j: (j["metadata"]["namespace"], j["metadata"]["name"])):
        status = job.get("status") or {}
        denials = (status.get("decision") or {}).get("denials") or []
        reasons = ", ".join(d["code"] for d in denials) or status.get("reason", "")
        epsilon = (status.get("privacy") or {}).get("epsilon")
        rows.append(
            (
                f"{job['metadata']['namespace']}/{job['metadata']['name']}",
                str(status.get("phase", "?")),
                f"{epsilon:.3f}" if isinstance(epsilon, float) else "-",
                reasons,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:3])) + "  " + r[3] for r in rows]
    admitted = sum(1 for j in jobs if (j.get("status") or {}).get("phase") == "Admitted")
    lines.append(f"\n{admitted} admitted, {len(jobs) - admitted} not admitted by policy")
    return "\n".join(lines)
