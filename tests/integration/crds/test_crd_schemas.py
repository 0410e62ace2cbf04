"""The CRDs on a real API server: examples accepted, mistakes rejected naming the field,
documentation and printer columns as a user sees them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from voxgate.devcluster import ControlPlane

if TYPE_CHECKING:  # fixtures come from conftest.py; only their type is imported here
    from tests.integration.crds.conftest import Objects

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
EXPECTED_CRDS = [
    "datagrants.voxgate.io",
    "operatorheartbeats.voxgate.io",
    "speechdatasets.voxgate.io",
    "trainingjobs.voxgate.io",
]
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
VALID_EXAMPLES = sorted(p for p in EXAMPLES.rglob("*.yaml") if "invalid" not in p.parts)
INVALID_EXAMPLES = sorted((EXAMPLES / "invalid").glob("*.yaml"))
DIGEST = "d014c128721e7fc66d13c5a2c744402f7e2ab70a0c5298565fddeb9d34d254b0"


ERROR = re.compile(
    r"(?:is invalid: \[?|, )([A-Za-z][\w.\[\]/-]*): "
    r"(?:Invalid value|Required value|Duplicate value|Unsupported value|Too many|Too long"
    r"|Forbidden)"
)


def error_fields(message: str) -> list[str]:
    """The field paths a validation error names (without the "<nil>" note that CEL was skipped)."""
    return ERROR.findall(message)


def load_documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _set(obj: Obj, path: str, value: object) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj.setdefault(part, {})
    obj[last] = value


def _delete(obj: Obj, path: str) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj[part]
    del obj[last]


def setting(path: str, value: object) -> Callable[[Obj], None]:
    return lambda obj: _set(obj, path, value)


def deleting(path: str) -> Callable[[Obj], None]:
    return lambda obj: _delete(obj, path)


@dataclass(frozen=True)
class Invalid:
    """One change to a valid example object that the API server must refuse."""

    id: str
    kind: str
    change: Callable[[Obj], None]
    field: str  # the path the error must name
    says: str = ""  # a fragment of the explanation, for our own (CEL) messages
    status: int = 422  # 400 for what strict decoding refuses (unknown fields)


def _raw_without_retention(obj: Obj) -> None:
    obj["spec"]["tier"] = "raw"
    del obj["spec"]["derivedFrom"]
    del obj["spec"]["consent"]["expiresAt"]


def _pseudonymized_without_retention(obj: Obj) -> None:
    obj["spec"]["tier"] = "pseudonymized"
    del obj["spec"]["consent"]["expiresAt"]


def _overcommit_gpu(obj: Obj) -> None:
    obj["spec"]["resources"]["limits"]["nvidia.com/gpu"] = "2"


INVALID_OBJECTS = [
    # TrainingJob
    Invalid(
        "image-tag-only",
        "TrainingJob",
        setting("spec.image", "registry.example.org/speech/asr:2"),
        "spec.image",
        "pinned by digest",
    ),
    Invalid(
        "image-uppercase-digest",
        "TrainingJob",
        setting("spec.image", "registry.example.org/speech/asr@sha256:" + DIGEST.upper()),
        "spec.image",
        "pinned by digest",
    ),
    Invalid(
        "image-short-digest",
        "TrainingJob",
        setting("spec.image", "registry.example.org/speech/asr@sha256:" + DIGEST[:63]),
        "spec.image",
        "pinned by digest",
    ),
    Invalid(
        "image-with-space",
        "TrainingJob",
        setting("spec.image", "registry.example.org/speech/asr trainer@sha256:" + DIGEST),
        "spec.image",
        "not a valid image reference",
    ),
    Invalid(
        "image-two-digests",
        "TrainingJob",
        setting("spec.image", f"registry.example.org/speech/asr@sha256:{DIGEST}@sha256:{DIGEST}"),
        "spec.image",
        "pinned by digest",
    ),
    Invalid("image-missing", "TrainingJob", deleting("spec.image"), "spec.image", "Required"),
    Invalid("workers-zero", "TrainingJob", setting("spec.workers", 0), "spec.workers"),
    Invalid("workers-257", "TrainingJob", setting("spec.workers", 257), "spec.workers"),
    Invalid("delta-zero", "TrainingJob", setting("spec.privacy.delta", 0), "spec.privacy.delta"),
    Invalid("delta-one", "TrainingJob", setting("spec.privacy.delta", 1), "spec.privacy.delta"),
    Invalid(
        "noise-zero",
        "TrainingJob",
        setting("spec.privacy.noiseMultiplier", 0),
        "spec.privacy.noiseMultiplier",
    ),
    Invalid(
        "sample-rate-above-one",
        "TrainingJob",
        setting("spec.privacy.sampleRate", 1.5),
        "spec.privacy.sampleRate",
    ),
    Invalid("steps-zero", "TrainingJob", setting("spec.privacy.steps", 0), "spec.privacy.steps"),
    Invalid(
        "unknown-accountant",
        "TrainingJob",
        setting("spec.privacy.accountant", "gdp"),
        "spec.privacy.accountant",
    ),
    Invalid(
        "clip-norm-missing",
        "TrainingJob",
        deleting("spec.privacy.maxGradNorm"),
        "spec.privacy.maxGradNorm",
        "Required",
    ),
    Invalid(
        "epsilon-is-not-a-job-field",
        "TrainingJob",
        setting("spec.privacy.epsilon", 1.0),
        "spec.privacy.epsilon",
        "unknown field",
        status=400,
    ),
    Invalid(
        "deadline-too-short",
        "TrainingJob",
        setting("spec.activeDeadlineSeconds", 30),
        "spec.activeDeadlineSeconds",
    ),
    Invalid(
        "purpose-not-a-name", "TrainingJob", setting("spec.purpose", "ASR Training"), "spec.purpose"
    ),
    Invalid(
        "dataset-namespace-not-a-label",
        "TrainingJob",
        setting("spec.datasetRef.namespace", "Speech_Data"),
        "spec.datasetRef.namespace",
    ),
    Invalid(
        "limit-below-request",
        "TrainingJob",
        setting("spec.resources.limits.memory", "8Gi"),
        "spec.resources.limits",
        "at least the matching request",
    ),
    Invalid(
        "unknown-resource-name",
        "TrainingJob",
        setting("spec.resources.requests.gpu", "1"),
        "spec.resources.requests",
        "resource names are",
    ),
    Invalid(
        "quantity-not-a-quantity",
        "TrainingJob",
        setting("spec.resources.requests.cpu", "lots"),
        "spec.resources.requests.cpu",
    ),
    Invalid(
        "gpu-overcommitted",
        "TrainingJob",
        _overcommit_gpu,
        "spec.resources.requests",
        "cannot be overcommitted",
    ),
    Invalid(
        "too-many-command-items", "TrainingJob", setting("spec.command", ["x"] * 65), "spec.command"
    ),
    Invalid("name-too-long", "TrainingJob", setting("metadata.name", "a" * 49), "metadata.name"),
    Invalid(
        "name-starts-with-digit",
        "TrainingJob",
        setting("metadata.name", "1st-job"),
        "metadata.name",
    ),
    # SpeechDataset
    Invalid("unknown-tier", "SpeechDataset", setting("spec.tier", "public"), "spec.tier"),
    Invalid(
        "raw-without-retention",
        "SpeechDataset",
        _raw_without_retention,
        "spec.consent.expiresAt",
        "required for tier raw",
    ),
    Invalid(
        "pseudonymized-without-retention",
        "SpeechDataset",
        _pseudonymized_without_retention,
        "spec.consent.expiresAt",
        "required for tier pseudonymized",
    ),
    Invalid(
        "budget-delta-one",
        "SpeechDataset",
        setting("spec.privacy.budget.delta", 1.0),
        "spec.privacy.budget.delta",
    ),
    Invalid(
        "budget-epsilon-zero",
        "SpeechDataset",
        setting("spec.privacy.budget.epsilon", 0),
        "spec.privacy.budget.epsilon",
    ),
    Invalid(
        "duplicate-consent-purpose",
        "SpeechDataset",
        setting("spec.consent.purposes", ["asr-training", "asr-training"]),
        "spec.consent.purposes[1]",
        "Duplicate",
    ),
    Invalid(
        "no-consent-purpose",
        "SpeechDataset",
        setting("spec.consent.purposes", []),
        "spec.consent.purposes",
    ),
    Invalid(
        "no-storage-source",
        "SpeechDataset",
        setting("spec.storage", {"manifest": "m.json"}),
        "spec.storage",
        "exactly one source",
    ),
    Invalid(
        "path-escapes",
        "SpeechDataset",
        setting("spec.storage.pvc.path", "/v1/../../etc"),
        "spec.storage.pvc.path",
        "'..'",
    ),
    Invalid(
        "path-relative",
        "SpeechDataset",
        setting("spec.storage.pvc.path", "v1"),
        "spec.storage.pvc.path",
    ),
    Invalid(
        "signing-key-not-32-bytes",
        "SpeechDataset",
        setting("spec.encryption.signingPublicKey", "c2hvcnQ="),
        "spec.encryption.signingPublicKey",
    ),
    Invalid(
        "unknown-key-provider",
        "SpeechDataset",
        setting("spec.encryption.keyRef.provider", "Vault"),
        "spec.encryption.keyRef.provider",
    ),
    Invalid(
        "derived-from-itself",
        "SpeechDataset",
        setting("spec.derivedFrom", [{"name": "callcentre-2024-anon", "transformation": "subset"}]),
        "spec.derivedFrom",
        "derived from itself",
    ),
    Invalid(
        "duplicate-parent",
        "SpeechDataset",
        setting(
            "spec.derivedFrom",
            [
                {"name": "a", "transformation": "subset"},
                {"name": "a", "transformation": "augmentation"},
            ],
        ),
        "spec.derivedFrom[1]",
        "Duplicate",
    ),
    Invalid(
        "tier-claims-too-little",
        "SpeechDataset",
        setting("spec.tier", "features"),
        "spec.tier",
        "less sensitivity than the transformation",
    ),
    Invalid(
        "sample-rate-too-low",
        "SpeechDataset",
        setting("spec.audio.sampleRateHz", 4000),
        "spec.audio.sampleRateHz",
    ),
    Invalid(
        "language-not-bcp47",
        "SpeechDataset",
        setting("spec.audio.language", "english"),
        "spec.audio.language",
    ),
    # DataGrant
    Invalid(
        "expires-before-valid",
        "DataGrant",
        setting("spec.expiresAt", "2025-05-31T00:00:00Z"),
        "spec.expiresAt",
        "after validFrom",
    ),
    Invalid(
        "expires-at-valid-from",
        "DataGrant",
        setting("spec.expiresAt", "2025-06-01T00:00:00Z"),
        "spec.expiresAt",
        "after validFrom",
    ),
    Invalid(
        "expires-not-a-date", "DataGrant", setting("spec.expiresAt", "next year"), "spec.expiresAt"
    ),
    Invalid(
        "justification-too-short",
        "DataGrant",
        setting("spec.justification", "research"),
        "spec.justification",
    ),
    Invalid(
        "duplicate-grant-purpose",
        "DataGrant",
        setting("spec.purposes", ["asr-training", "asr-training"]),
        "spec.purposes[1]",
        "Duplicate",
    ),
    Invalid(
        "too-many-purposes",
        "DataGrant",
        setting("spec.purposes", [f"p{i}" for i in range(17)]),
        "spec.purposes",
    ),
    Invalid(
        "negative-epsilon", "DataGrant", setting("spec.privacy.epsilon", -1), "spec.privacy.epsilon"
    ),
    Invalid(
        "grantee-namespace-not-a-label",
        "DataGrant",
        setting("spec.grantee.namespace", "team_asr"),
        "spec.grantee.namespace",
    ),
    Invalid(
        "duplicate-service-account",
        "DataGrant",
        setting("spec.grantee.serviceAccounts", ["ci", "ci"]),
        "spec.grantee.serviceAccounts[1]",
        "Duplicate",
    ),
    Invalid("approved-not-a-bool", "DataGrant", setting("spec.approved", "yes"), "spec.approved"),
]


def test_crds_are_established(crds: list[str]) -> None:
    assert crds == EXPECTED_CRDS


@pytest.mark.parametrize("path", VALID_EXAMPLES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_example_is_accepted(
    control_plane: ControlPlane, example_namespaces: list[str], path: Path
) -> None:
    result = control_plane.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=voxgate-tests",
        "-f",
        str(path),
        "-o",
        "json",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr, result.stderr
    applied = json.loads(result.stdout)
    items = applied["items"] if applied["kind"] == "List" else [applied]
    assert [i["metadata"]["name"] for i in items] == [
        d["metadata"]["name"] for d in load_documents(path)
    ]


def test_defaults_are_filled_in(
    objects: Objects, example_namespaces: list[str], base: Callable[[str], Obj]
) -> None:
    job = base("TrainingJob")
    for field in ("workers", "activeDeadlineSeconds"):
        del job["spec"][field]
    created = objects.create(job, "team-asr", dry_run=True)["spec"]
    assert (created["workers"], created["activeDeadlineSeconds"]) == (1, 86400)
    assert created["privacy"]["accountant"] == "rdp"

    dataset = base("SpeechDataset")
    dataset["spec"]["storage"] = {"pvc": {"claimName": "sealed"}}
    dataset["spec"]["encryption"]["keyRef"] = {"name": "kek"}
    created = objects.create(dataset, "speech-data", dry_run=True)["spec"]
    assert created["storage"] == {
        "pvc": {"claimName": "sealed", "path": "/"},
        "manifest": "manifest.json",
    }
    assert created["encryption"]["keyRef"] == {"name": "kek", "provider": "Secret"}

    grant = base("DataGrant")
    del grant["spec"]["approved"]
    created = objects.create(grant, "speech-data", dry_run=True)["spec"]
    assert (created["approved"], created["revoked"]) == (False, False)


@pytest.mark.parametrize("case", INVALID_OBJECTS, ids=lambda c: f"{c.kind}-{c.id}")
def test_invalid_object_is_rejected_naming_its_field(
    objects: Objects, example_namespaces: list[str], base: Callable[[str], Obj], case: Invalid
) -> None:
    obj = base(case.kind)
    case.change(obj)
    namespace = obj["metadata"]["namespace"]
    message = objects.rejection(lambda: objects.create(obj, namespace, dry_run=True), case.status)
    # The path must appear whole: not as the prefix of a longer path.
    assert re.search(rf"(^|[\s\"\[]){re.escape(case.field)}(?![\w.\[])", message), message
    assert case.says in message, message
    # One mistake, one error: rules must not pile up on the same cause.
    assert len(error_fields(message)) == 1 or case.status == 400, message


def test_there_are_enough_invalid_cases() -> None:
    assert len(INVALID_OBJECTS) >= 25
    assert len({c.id for c in INVALID_OBJECTS}) == len(INVALID_OBJECTS)


def _expected_rejection(path: Path) -> str:
    (line,) = [ln for ln in path.read_text().splitlines() if ln.startswith("# voxgate-expect:")]
    verb, field = line.split(":", 1)[1].split()
    assert verb == "reject"
    return field


@pytest.mark.parametrize("path", INVALID_EXAMPLES, ids=lambda p: p.name)
def test_invalid_example_is_rejected_naming_its_field(
    control_plane: ControlPlane, example_namespaces: list[str], path: Path
) -> None:
    field = _expected_rejection(path)
    for mode in (["--server-side"], []):  # both ways users apply
        result = control_plane.kubectl(
            "apply",
            *mode,
            "--dry-run=server",
            "--field-manager=voxgate-tests",
            "-f",
            str(path),
            check=False,
        )
        assert result.returncode != 0, f"{path.name} was accepted ({mode})"
        assert field in result.stderr, result.stderr


def test_there_is_an_invalid_example_per_story() -> None:
    kinds = {d["kind"] for p in INVALID_EXAMPLES for d in load_documents(p)}
    assert kinds == {"SpeechDataset", "DataGrant", "TrainingJob"}
    assert len(INVALID_EXAMPLES) >= 8


# -- what users read ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "fields"),
    [
        (
            "trainingjob.spec",
            [
                "datasetRef",
                "grantRef",
                "purpose",
                "image",
                "command",
                "args",
                "workers",
                "resources",
                "privacy",
                "activeDeadlineSeconds",
            ],
        ),
        (
            "trainingjob.spec.privacy",
            ["noiseMultiplier", "maxGradNorm", "sampleRate", "steps", "delta", "accountant"],
        ),
        (
            "trainingjob.status",
            [
                "phase",
                "reason",
                "message",
                "decision",
                "privacy",
                "credentialsExpireAt",
                "children",
                "conditions",
            ],
        ),
        (
            "speechdataset.spec",
            ["tier", "storage", "encryption", "consent", "privacy", "derivedFrom", "audio"],
        ),
        (
            "datagrant.spec",
            [
                "datasetRef",
                "grantee",
                "purposes",
                "validFrom",
                "expiresAt",
                "privacy",
                "justification",
                "approved",
                "revoked",
            ],
        ),
    ],
)
def test_kubectl_explain_prints_documentation(
    control_plane: ControlPlane, crds: list[str], target: str, fields: list[str]
) -> None:
    out = control_plane.kubectl("explain", target).stdout
    assert "DESCRIPTION:" in out
    # Each field is listed with its type and followed by an indented, non-empty description.
    for field in fields:
        match = re.search(
            rf"^  {field}\t<[^>]+>.*\n(?:  enum: .*\n)?    (\S.+)$", out, re.MULTILINE
        )
        assert match, f"{target}.{field} undocumented in:\n{out}"
        assert len(match.group(1)) > 15


def test_kubectl_explain_spec_reads_like_documentation(
    control_plane: ControlPlane, crds: list[str]
) -> None:
    out = control_plane.kubectl("explain", "trainingjob.spec").stdout
    assert "pinned by digest" in out
    assert "Immutable once created" in out
    assert "-required-" in out


def _table(control_plane: ControlPlane, *args: str) -> list[dict[str, str]]:
    """`kubectl get` output as rows keyed by column header (columns split on 2+ spaces)."""
    lines = control_plane.kubectl("get", *args).stdout.splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())
    return [dict(zip(header, re.split(r"\s{2,}", line.strip()), strict=True)) for line in lines[1:]]


def _create_world(
    objects: Objects, base: Callable[[str], Obj], namespace: str
) -> tuple[Obj, Obj, Obj]:
    dataset, grant, job = (base(k) for k in ("SpeechDataset", "DataGrant", "TrainingJob"))
    for obj in (dataset, grant, job):
        obj["metadata"]["namespace"] = namespace
    job["spec"]["datasetRef"] = {"name": dataset["metadata"]["name"], "namespace": namespace}
    return (
        objects.create(dataset, namespace),
        objects.create(grant, namespace),
        objects.create(job, namespace),
    )


def test_printer_columns_answer_the_first_question(
    control_plane: ControlPlane,
    objects: Objects,
    base: Callable[[str], Obj],
    crds: list[str],
    namespace: str,
) -> None:
    dataset, grant, job = _create_world(objects, base, namespace)
    now = "2026-01-01T00:00:00Z"
    job["status"] = {
        "phase": "Denied",
        "reason": "GrantBudgetExceeded",
        "message": "epsilon 7.53 exceeds the 5.0 left in grant anon-team-asr; add noise",
        "privacy": {"epsilon": 7.53, "delta": 1e-6, "charged": False},
        "decision": {
            "allowed": False,
            "time": now,
            "denials": [{"code": "GrantBudgetExceeded", "message": "epsilon 7.53 > 5.0"}],
        },
    }
    objects.replace_status(job, namespace)
    dataset["status"] = {"phase": "Ready", "activeGrants": 2, "budget": {"epsilonRemaining": 9.25}}
    objects.replace_status(dataset, namespace)
    grant["status"] = {"phase": "Active", "epsilonUsed": 1.5}
    objects.replace_status(grant, namespace)

    (row,) = _table(control_plane, "trainingjobs", "-n", namespace)
    assert list(row) == ["NAME", "PHASE", "DATASET", "PURPOSE", "EPSILON", "REASON", "AGE"]
    assert row | {"AGE": ""} == {
        "NAME": "asr-callcentre-dp",
        "PHASE": "Denied",
        "DATASET": "callcentre-2024-anon",
        "PURPOSE": "asr-training",
        "EPSILON": "7.53",
        "REASON": "GrantBudgetExceeded",
        "AGE": "",
    }
    (wide,) = _table(control_plane, "tj", "-n", namespace, "-o", "wide")
    assert wide["WORKERS"] == "4"
    assert wide["MESSAGE"].startswith("epsilon 7.53 exceeds")

    (row,) = _table(control_plane, "speechdatasets", "-n", namespace)
    assert list(row) == ["NAME", "TIER", "PHASE", "EPSILON-REMAINING", "GRANTS", "AGE"]
    assert [row[c] for c in ("NAME", "TIER", "PHASE", "EPSILON-REMAINING", "GRANTS")] == [
        "callcentre-2024-anon",
        "anonymized",
        "Ready",
        "9.25",
        "2",
    ]

    (row,) = _table(control_plane, "dg", "-n", namespace)
    assert list(row) == ["NAME", "DATASET", "GRANTEE", "PHASE", "EPSILON", "EXPIRES", "AGE"]
    assert [row[c] for c in ("DATASET", "GRANTEE", "PHASE", "EPSILON", "EXPIRES")] == [
        "callcentre-2024-anon",
        "team-asr",
        "Active",
        "5",
        "2035-06-30T23:59:59Z",
    ]


def test_short_names_and_category_list_everything(
    control_plane: ControlPlane,
    objects: Objects,
    base: Callable[[str], Obj],
    crds: list[str],
    namespace: str,
) -> None:
    _create_world(objects, base, namespace)
    names = control_plane.kubectl("get", "voxgate", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(names) == [
        "datagrant.voxgate.io/anon-team-asr",
        "speechdataset.voxgate.io/callcentre-2024-anon",
        "trainingjob.voxgate.io/asr-callcentre-dp",
    ]
    short = control_plane.kubectl("get", "sds,dg,tj", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(short) == sorted(names)


def test_grants_and_jobs_are_selectable_by_dataset(
    control_plane: ControlPlane,
    objects: Objects,
    base: Callable[[str], Obj],
    crds: list[str],
    namespace: str,
) -> None:
    _create_world(objects, base, namespace)
    selected = control_plane.kubectl(
        "get",
        "dg,tj",
        "-n",
        namespace,
        "-o",
        "name",
        "--field-selector=spec.datasetRef.name=callcentre-2024-anon",
    ).stdout.split()
    assert len(selected) == 2
    none = control_plane.kubectl(
        "get",
        "dg",
        "-n",
        namespace,
        "-o",
        "name",
        "--field-selector=spec.grantee.namespace=team-other",
    ).stdout.split()
    assert none == []
