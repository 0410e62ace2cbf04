"""Static checks of examples/: expectation comments, a consistent world, schema-valid objects.

The policy tests read the `# voxgate-expect:` lines, so their format is checked here; the world
check catches a job pointing at a dataset or grant that does not exist (which would make its
expected denial meaningless); the schema check catches typos without an API server.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = REPO_ROOT / "examples"
CRD_DIR = REPO_ROOT / "crds"
ALL_FILES = sorted(EXAMPLES.rglob("*.yaml"))
VALID_FILES = [p for p in ALL_FILES if "invalid" not in p.parts]
INVALID_FILES = sorted((EXAMPLES / "invalid").glob("*.yaml"))
JOB_FILES = sorted((EXAMPLES / "jobs").glob("*.yaml"))
DENY_CODES = {
    "TierPurposeNotPermitted", "PurposeNotConsented", "NoActiveGrant", "GrantExpired",
    "GrantRevoked", "GrantNotYetValid", "ConsentExpired", "DPRequired", "NoiseTooLow",
    "EpsilonExceedsTierLimit", "GrantBudgetExceeded", "DatasetBudgetExceeded", "ImageNotPinned",
    "RegistryNotApproved", "WorkersExceedTierCap", "ResourcesExceedTierCap", "SelfApprovedGrant",
    "GrantNotApproved", "InstitutionNotConsented", "DerivedConsentWidened",
}  # fmt: skip
EXPECT = re.compile(r"^# voxgate-expect: (admit|deny [A-Za-z]+(,[A-Za-z]+)*|reject [\w.\[\]]+)$")

Obj = dict[str, Any]


def _documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _expectations(path: Path) -> list[str]:
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("# voxgate-expect")]
    for line in lines:
        assert EXPECT.match(line), f"{path.name}: malformed expectation {line!r}"
    return [line.split(":", 1)[1].strip() for line in lines]


def _objects(kind: str) -> dict[tuple[str, str], Obj]:
    found: dict[tuple[str, str], Obj] = {}
    for path in VALID_FILES:
        for doc in _documents(path):
            if doc["kind"] == kind:
                key = (doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
                assert key not in found, f"{kind} {key} defined twice"
                found[key] = doc
    return found


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_every_example_says_what_it_shows(path: Path) -> None:
    lines = path.read_text().splitlines()
    leading = lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    assert leading, f"{path.name} does not start with a comment"
    assert len(" ".join(leading)) > 60, f"{path.name}: the leading comment is too short to explain"


@pytest.mark.parametrize("path", JOB_FILES, ids=lambda p: p.name)
def test_every_job_states_its_expected_decision(path: Path) -> None:
    (expectation,) = _expectations(path)
    assert [d["kind"] for d in _documents(path)] == ["TrainingJob"]
    if expectation == "admit":
        assert path.name.startswith("admit-")
        return
    assert path.name.startswith("deny-")
    codes = expectation.removeprefix("deny ").split(",")
    assert set(codes) <= DENY_CODES, codes
    assert codes == sorted(set(codes)), f"{path.name}: codes must be sorted and unique"


def test_only_jobs_and_invalid_objects_carry_expectations() -> None:
    carrying = {p for p in ALL_FILES if _expectations(p)}
    assert carrying == set(JOB_FILES) | set(INVALID_FILES)


def test_denials_cover_distinct_reasons() -> None:
    single = [_expectations(p)[0] for p in JOB_FILES if "," not in _expectations(p)[0]]
    denials = [e for e in single if e != "admit"]
    assert len(denials) == len(set(denials)), "two deny examples test the same single reason"
    assert len(denials) >= 10
    assert single.count("admit") >= 3


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.name)
def test_every_invalid_example_names_the_rejected_field(path: Path) -> None:
    (expectation,) = _expectations(path)
    assert expectation.startswith("reject ")
    field = expectation.removeprefix("reject ")
    assert field.split(".")[0] in {"spec", "metadata"}


def test_readme_lists_every_example() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    missing = [p.stem for p in ALL_FILES if p.stem not in readme]
    assert missing == []


def test_the_world_is_consistent() -> None:
    namespaces = {name for _, name in _objects("Namespace")}
    datasets, grants, jobs = (
        _objects("SpeechDataset"),
        _objects("DataGrant"),
        _objects("TrainingJob"),
    )
    claims = set(_objects("PersistentVolumeClaim"))
    for (ns, name), dataset in datasets.items():
        assert ns in namespaces, name
        assert (ns, dataset["spec"]["storage"]["pvc"]["claimName"]) in claims, name
        for parent in dataset["spec"].get("derivedFrom", []):
            assert (ns, parent["name"]) in datasets, f"{name}: parent {parent['name']} missing"
    for (ns, name), grant in grants.items():
        assert (ns, grant["spec"]["datasetRef"]["name"]) in datasets, name
        assert grant["spec"]["grantee"]["namespace"] in namespaces, name
    for (ns, name), job in jobs.items():
        assert ns in namespaces, name
        ref = job["spec"]["datasetRef"]
        dataset_key = (ref.get("namespace", ns), ref["name"])
        assert dataset_key in datasets, f"{name}: dataset {dataset_key} missing"
        if "grantRef" in job["spec"]:
            grant = grants[(dataset_key[0], job["spec"]["grantRef"]["name"])]
            assert grant["spec"]["datasetRef"]["name"] == ref["name"], name
            assert grant["spec"]["grantee"]["namespace"] == ns, name


def test_far_future_and_past_dates_as_documented() -> None:
    # Valid windows end in 2030 or later so the examples keep their meaning for years; the only
    # past instants are the deliberately expired ones.
    for path in VALID_FILES:
        for year in re.findall(r'"(\d{4})-\d\d-\d\dT', path.read_text()):
            assert int(year) >= 2030 or int(year) == 2025, f"{path.name}: {year}"


# -- schema check without an API server -----------------------------------------------------


def _closed(schema: Obj, root: bool = True) -> Obj:
    """The CRD schema with unknown fields forbidden (the API server would prune or refuse them)."""
    schema = copy.deepcopy(schema)
    for name, child in schema.get("properties", {}).items():
        if root and name == "metadata":
            schema["properties"][name] = {"type": "object"}
            continue
        schema["properties"][name] = _closed(child, root=False)
    if isinstance(schema.get("items"), dict):
        schema["items"] = _closed(schema["items"], root=False)
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema["additionalProperties"] = False
    return schema


def _validators() -> dict[str, jsonschema.Draft4Validator]:
    validators = {}
    for path in CRD_DIR.glob("*.yaml"):
        crd = _documents(path)[0]
        schema = _closed(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
        validators[crd["spec"]["names"]["kind"]] = jsonschema.Draft4Validator(
            schema, format_checker=jsonschema.FormatChecker()
        )
    return validators


VALIDATORS = _validators()


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_matches_the_crd_schema(path: Path) -> None:
    for doc in _documents(path):
        if doc["kind"] in VALIDATORS:
            errors = [
                f"{'.'.join(map(str, e.path))}: {e.message}"
                for e in VALIDATORS[doc["kind"]].iter_errors(doc)
            ]
            assert errors == [], path.name


def test_schema_check_catches_a_typo() -> None:
    (job,) = _documents(JOB_FILES[0])
    job["spec"]["privacy"]["noiseMultipler"] = job["spec"]["privacy"].pop("noiseMultiplier")
    messages = [e.message for e in VALIDATORS["TrainingJob"].iter_errors(job)]
    assert any("noiseMultipler" in m for m in messages), messages
