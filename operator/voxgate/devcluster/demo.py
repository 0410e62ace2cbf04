"""`voxgate dev demo`: the story of examples/ told against a fresh local control plane.

For now the story stops at the API server: which objects it accepts and which it rejects (and
why). The operator, the policy engine and the chart join the story as they are built.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from voxgate.devcluster.binaries import REPO_ROOT
from voxgate.devcluster.controlplane import ControlPlane

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
        print("\n" + plane.kubectl("get", "voxgate", "-A").stdout.rstrip())
        if keep:
            say(f"\nleft running; export KUBECONFIG={plane.kubeconfig}; stop: voxgate dev down\n")
    finally:
        if not keep:
            plane.stop()
    return 0
