"""The policy revision: a content hash of everything OPA loads from a policy bundle directory.

It travels with every decision (TrainingJob status, audit records), so a decision can later be
tied to the exact policies and data that produced it. In bundle mode OPA loads `.rego` files and
data only from files named data.json or data.yaml; tests (`*_test.rego`) and test helpers
(`testing/`) are left out of the bundle: they never change a decision.
"""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path

DATA_FILES = ("data.json", "data.yaml", "data.yml")
BUNDLE_EXCLUDES = ("*_test.rego", "testing")


def bundle_files(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and (path.suffix == ".rego" or path.name in DATA_FILES)
        and not any(
            fnmatch.fnmatch(part, pattern)
            for part in path.relative_to(directory).parts
            for pattern in BUNDLE_EXCLUDES
        )
        and not any(part.startswith(".") for part in path.relative_to(directory).parts)
    )


def policy_revision(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in bundle_files(directory):
        relative = path.relative_to(directory).as_posix().encode()
        content = path.read_bytes()
        # Length-prefixed, so no two different trees can hash the same.
        for part in (relative, content):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return "sha256:" + digest.hexdigest()
