"""examples/ as the demo applies it: every object in dependency order, and what each
TrainingJob's `# voxgate-expect:` comment promises (examples/README.md describes the format).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from voxgate.devcluster.binaries import REPO_ROOT

EXAMPLES_DIR = REPO_ROOT / "examples"
# Objects are applied in dependency order: a grant names a dataset, a job names both.
KIND_ORDER = ("Namespace", "SpeechDataset", "DataGrant", "TrainingJob")
EXPECT = re.compile(r"^# voxgate-expect: (admit|deny) ?(\S*)\s*$", re.MULTILINE)


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
