"""The policy revision: a content hash of everything OPA loads from a policy bundle directory.

It travels with every decision (TrainingJob status, audit records), so a decision can later be
tied to the exact policies and data that produced it. Tests (`*_test.rego`) are left out: they
never change a decision.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

BUNDLE_SUFFIXES = (".rego", ".json", ".yaml", ".yml")
BUNDLE_EXCLUDES = ("*_test.rego",)


def bundle_files(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and path.suffix in BUNDLE_SUFFIXES
        and not any(path.match(pattern) for pattern in BUNDLE_EXCLUDES)
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
