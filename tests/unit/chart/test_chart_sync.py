"""The chart's copies of crds/ and of the policy bundle are exactly the sources.

Charts can only read files inside their own directory, so hack/chart-sync.sh copies them; these
tests fail when someone edits a CRD or a policy and forgets to run it.
"""

from __future__ import annotations

import json
from pathlib import Path

from voxgate.policy.revision import bundle_files, policy_revision

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "voxgate"
FIX = "run hack/chart-sync.sh"


def tree(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_the_charts_crds_are_the_repositorys_crds() -> None:
    source, copy = tree(REPO / "crds"), tree(CHART / "crds")
    assert sorted(copy) == sorted(source), FIX
    drifted = [name for name in source if copy[name] != source[name]]
    assert not drifted, f"charts/voxgate/crds/ differs from crds/ in {drifted}: {FIX}"


def test_the_charts_policy_bundle_is_the_bundle_opa_builds_from_policies() -> None:
    source = REPO / "policies"
    expected = {p.relative_to(source).as_posix(): p.read_bytes() for p in bundle_files(source)}
    copy = tree(CHART / "files" / "policies")
    manifest = copy.pop(".manifest", None)
    assert manifest is not None, f"files/policies/.manifest is missing: {FIX}"
    assert sorted(copy) == sorted(expected), FIX
    drifted = [name for name in expected if copy[name] != expected[name]]
    assert not drifted, f"files/policies/ differs from policies/ in {drifted}: {FIX}"
    assert json.loads(manifest) == {"revision": policy_revision(source)}, FIX


def test_no_test_or_test_helper_is_shipped() -> None:
    names = tree(CHART / "files" / "policies")
    assert names, "the chart has no policy bundle"
    assert not [n for n in names if n.endswith("_test.rego") or "/testing/" in f"/{n}"]
    assert any(n.endswith("/data.yaml") for n in names)
