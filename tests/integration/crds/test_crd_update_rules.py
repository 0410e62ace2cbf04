"""Transition rules on a real API server: what may change after creation, in spec and status.

Each case creates a valid example object for real in a fresh namespace, then tries one update
with dry run. Rejections must name the field and say why; allowed updates must pass, so the rules
are no stricter than intended.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # fixtures come from conftest.py; only their type is imported here
    from tests.integration.crds.conftest import Objects

pytestmark = pytest.mark.integration

Obj = dict[str, Any]
Base = Callable[[str], Obj]
NOW = "2026-01-15T10:00:00Z"
# A field path followed by the kind of error, as in "spec.purpose: Forbidden: ...".
ERROR = re.compile(
    r"(?:is invalid: \[?|, )([A-Za-z][\w.\[\]/-]*): "
    r"(?:Invalid|Required|Duplicate|Unsupported|Forbidden)"
)


@dataclass(frozen=True)
class Update:
    id: str
    kind: str
    change: Callable[[Obj], None]
    field: str = ""  # empty: the update must be accepted
    says: str = ""
    revoked: bool = False  # start from a revoked grant


def _put(path: str, value: object) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        *parents, last = path.split(".")
        for part in parents:
            obj = obj.setdefault(part, {})
        obj[last] = value

    return change


def _drop(path: str) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        *parents, last = path.split(".")
        for part in parents:
            obj = obj[part]
        del obj[last]

    return change


def _both(*changes: Callable[[Obj], None]) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        for one in changes:
            one(obj)

    return change


SPEC_UPDATES = [
    # TrainingJob: everything is immutable, datasetRef and purpose with their own message.
    Update(
        "job-image",
        "TrainingJob",
        _put("spec.image", "registry.example.org/speech/asr@sha256:" + "0" * 64),
        "spec",
        "spec is immutable",
    ),
    Update("job-workers", "TrainingJob", _put("spec.workers", 2), "spec", "spec is immutable"),
    Update(
        "job-add-grant",
        "TrainingJob",
        _put("spec.grantRef", {"name": "other"}),
        "spec",
        "spec is immutable",
    ),
    Update("job-drop-privacy", "TrainingJob", _drop("spec.privacy"), "spec", "spec is immutable"),
    Update(
        "job-dataset",
        "TrainingJob",
        _put("spec.datasetRef.name", "clinic-dictation"),
        "spec.datasetRef",
        "datasetRef is immutable",
    ),
    Update(
        "job-purpose",
        "TrainingJob",
        _put("spec.purpose", "asr-evaluation"),
        "spec.purpose",
        "purpose is immutable",
    ),
    Update("job-label", "TrainingJob", _put("metadata.labels", {"team": "asr"})),
    # SpeechDataset: tier, delta and provenance fixed; consent and budget only narrow.
    Update(
        "dataset-tier", "SpeechDataset", _put("spec.tier", "raw"), "spec.tier", "tier is immutable"
    ),
    Update(
        "dataset-add-purpose",
        "SpeechDataset",
        _put("spec.consent.purposes", ["asr-training", "asr-evaluation", "tts-training"]),
        "spec.consent.purposes",
        "consent can only be narrowed",
    ),
    Update(
        "dataset-later-expiry",
        "SpeechDataset",
        _put("spec.consent.expiresAt", "2040-01-01T00:00:00Z"),
        "spec.consent.expiresAt",
        "consent can only be narrowed",
    ),
    Update(
        "dataset-drop-expiry",
        "SpeechDataset",
        _drop("spec.consent.expiresAt"),
        "spec.consent.expiresAt",
        "consent can only be narrowed",
    ),
    Update(
        "dataset-add-institution",
        "SpeechDataset",
        _put(
            "spec.consent.institutions", ["Example Telecom", "Example University", "Example Corp"]
        ),
        "spec.consent.institutions",
        "consent can only be narrowed",
    ),
    Update(
        "dataset-drop-institutions",
        "SpeechDataset",
        _drop("spec.consent.institutions"),
        "spec.consent.institutions",
        "consent can only be narrowed",
    ),
    Update(
        "dataset-raise-budget",
        "SpeechDataset",
        _put("spec.privacy.budget.epsilon", 12.5),
        "spec.privacy.budget.epsilon",
        "never raised",
    ),
    Update(
        "dataset-change-delta",
        "SpeechDataset",
        _put("spec.privacy.budget.delta", 1.0e-7),
        "spec.privacy.budget.delta",
        "immutable",
    ),
    Update(
        "dataset-change-parent",
        "SpeechDataset",
        _put("spec.derivedFrom", [{"name": "clinic-dictation", "transformation": "anonymization"}]),
        "spec.derivedFrom",
        "derivedFrom is immutable",
    ),
    Update(
        "dataset-drop-parent",
        "SpeechDataset",
        _drop("spec.derivedFrom"),
        "spec.derivedFrom",
        "derivedFrom is immutable",
    ),
    Update(
        "dataset-narrow-consent",
        "SpeechDataset",
        _both(
            _put("spec.consent.purposes", ["asr-training"]),
            _put("spec.consent.expiresAt", "2030-06-30T00:00:00Z"),
            _put("spec.consent.institutions", ["Example University"]),
        ),
    ),
    Update("dataset-lower-budget", "SpeechDataset", _put("spec.privacy.budget.epsilon", 6.0)),
    Update(
        "dataset-move-storage",
        "SpeechDataset",
        _both(
            _put("spec.storage.pvc.path", "/v2"),
            _put("spec.encryption.keyRef.name", "anon-kek-2026"),
            _put("spec.description", "Re-sealed under a new key in 2026."),
        ),
    ),
    # DataGrant: target fixed; an approved grant only narrows; a revocation is final.
    Update(
        "grant-dataset",
        "DataGrant",
        _put("spec.datasetRef.name", "clinic-dictation"),
        "spec.datasetRef",
        "datasetRef is immutable",
    ),
    Update(
        "grant-grantee",
        "DataGrant",
        _put("spec.grantee.namespace", "team-other"),
        "spec.grantee.namespace",
        "grantee.namespace is immutable",
    ),
    Update(
        "grant-add-purpose",
        "DataGrant",
        _put("spec.purposes", ["asr-training", "asr-evaluation"]),
        "spec.purposes",
        "approved grant can only be narrowed",
    ),
    Update(
        "grant-raise-epsilon",
        "DataGrant",
        _put("spec.privacy.epsilon", 6.0),
        "spec.privacy.epsilon",
        "approved grant can only be narrowed",
    ),
    Update(
        "grant-extend",
        "DataGrant",
        _put("spec.expiresAt", "2036-01-01T00:00:00Z"),
        "spec.expiresAt",
        "approved grant can only be narrowed",
    ),
    Update(
        "grant-drop-expiry",
        "DataGrant",
        _drop("spec.expiresAt"),
        "spec.expiresAt",
        "approved grant can only be narrowed",
    ),
    Update(
        "grant-start-earlier",
        "DataGrant",
        _put("spec.validFrom", "2025-01-01T00:00:00Z"),
        "spec.validFrom",
        "approved grant can only be narrowed",
    ),
    Update(
        "grant-institution",
        "DataGrant",
        _put("spec.grantee.institution", "Example Telecom"),
        "spec.grantee",
        "approved grant can only be narrowed",
    ),
    Update(
        "grant-drop-service-accounts",
        "DataGrant",
        _drop("spec.grantee.serviceAccounts"),
        "spec.grantee",
        "approved grant can only be narrowed",
    ),
    Update(
        "grant-narrow",
        "DataGrant",
        _both(
            _put("spec.privacy.epsilon", 4.0),
            _put("spec.expiresAt", "2030-01-01T00:00:00Z"),
            _put("spec.validFrom", "2026-01-01T00:00:00Z"),
            _put("spec.justification", "Narrowed after the audit."),
        ),
    ),
    Update(
        "grant-widen-with-reapproval",
        "DataGrant",
        _both(
            _put("spec.approved", False),
            _put("spec.purposes", ["asr-training", "asr-evaluation"]),
            _put("spec.privacy.epsilon", 8.0),
        ),
    ),
    Update("grant-revoke", "DataGrant", _put("spec.revoked", True)),
    Update(
        "grant-unrevoke",
        "DataGrant",
        _put("spec.revoked", False),
        "spec.revoked",
        "cannot be set back to false",
        revoked=True,
    ),
    Update(
        "grant-edit-revoked",
        "DataGrant",
        _put("spec.justification", "Please reconsider this."),
        "spec",
        "revoked grant is final",
        revoked=True,
    ),
    Update(
        "grant-label-revoked",
        "DataGrant",
        _put("metadata.labels", {"archived": "true"}),
        revoked=True,
    ),
]


def _create(objects: Objects, obj: Obj, namespace: str) -> Obj:
    obj["metadata"]["namespace"] = namespace
    return objects.create(obj, namespace)


@pytest.mark.parametrize("case", SPEC_UPDATES, ids=lambda c: c.id)
def test_spec_update(
    objects: Objects, base: Base, crds: list[str], namespace: str, case: Update
) -> None:
    obj = base(case.kind)
    if case.revoked:
        obj["spec"]["revoked"] = True
    current = _create(objects, obj, namespace)
    case.change(current)
    if not case.field:
        objects.replace(current, namespace)
        return
    message = objects.rejection(lambda: objects.replace(current, namespace))
    assert ERROR.findall(message) == [case.field], message
    assert case.says in message, message


def test_spec_cannot_change_through_the_status_subresource(
    objects: Objects, base: Base, crds: list[str], namespace: str
) -> None:
    job = _create(objects, base("TrainingJob"), namespace)
    job["spec"]["workers"] = 3
    job["status"] = {"phase": "Pending"}
    after = objects.replace_status(job, namespace)
    assert after["spec"]["workers"] == 4
    assert after["status"] == {"phase": "Pending"}


# -- status ------------------------------------------------------------------------------------

CONDITION = {
    "type": "Admitted",
    "status": "True",
    "observedGeneration": 1,
    "lastTransitionTime": NOW,
    "reason": "PolicyAllowed",
    "message": "admitted under grant anon-team-asr",
}
FULL_STATUS = {
    "TrainingJob": {
        "phase": "Running",
        "reason": "Running",
        "message": "4 of 4 workers running",
        "observedGeneration": 1,
        "decision": {
            "allowed": True,
            "obligations": {
                "dp": {"required": True, "maxEpsilon": 2.0},
                "credentialTTLSeconds": 900,
                "egress": [{"to": "key-broker", "port": 8443}],
                "memoryOnly": True,
            },
            "grant": "anon-team-asr",
            "policyRevision": "policies@3f2a9c1",
            "decisionId": "4b7f1c2e-9a51-4d0b-8a0e-5a3c2f9e1d77",
            "time": NOW,
        },
        "privacy": {"epsilon": 0.978, "delta": 1e-06, "charged": True},
        "credentialsExpireAt": "2026-01-15T10:15:00Z",
        "children": {
            "serviceAccount": "asr-callcentre-dp",
            "networkPolicy": "asr-callcentre-dp",
            "service": "asr-callcentre-dp",
            "job": "asr-callcentre-dp",
            "configMap": "asr-callcentre-dp-dp",
        },
        "workers": {"active": 4, "succeeded": 0, "failed": 0},
        "startTime": NOW,
        "conditions": [CONDITION],
    },
    "SpeechDataset": {
        "phase": "Ready",
        "observedGeneration": 1,
        "manifestDigest": "sha256:" + "ab" * 32,
        "shardCount": 128,
        "budget": {
            "epsilonTotal": 12.0,
            "epsilonSpent": 2.5,
            "epsilonReserved": 0.978,
            "epsilonRemaining": 8.522,
            "delta": 1e-06,
        },
        "activeGrants": 1,
        "conditions": [CONDITION | {"type": "Ready", "reason": "ManifestVerified"}],
    },
    "DataGrant": {
        "phase": "Active",
        "observedGeneration": 1,
        "epsilonUsed": 2.5,
        "epsilonReserved": 0.978,
        "approvedBy": "carol@example.org",
        "conditions": [CONDITION | {"type": "Active", "reason": "Approved"}],
    },
}


@pytest.mark.parametrize("kind", sorted(FULL_STATUS))
def test_full_status_round_trips_without_pruning(
    objects: Objects, base: Base, crds: list[str], namespace: str, kind: str
) -> None:
    obj = _create(objects, base(kind), namespace)
    obj["status"] = FULL_STATUS[kind]
    assert objects.replace_status(obj, namespace)["status"] == FULL_STATUS[kind]


@dataclass(frozen=True)
class StatusUpdate:
    id: str
    kind: str
    before: Obj | None  # written for real first
    after: Obj | None  # None: the update drops status altogether
    field: str = ""  # empty: accepted
    says: str = ""


DENIED = {
    "allowed": False,
    "denials": [{"code": "NoActiveGrant", "message": "no active grant for team-asr"}],
}
STATUS_UPDATES = [
    StatusUpdate(
        "final-phase",
        "TrainingJob",
        {"phase": "Succeeded"},
        {"phase": "Running"},
        "status.phase",
        "phase Succeeded is final",
    ),
    StatusUpdate(
        "revoked-is-final",
        "TrainingJob",
        {"phase": "Revoked"},
        {"phase": "Admitted"},
        "status.phase",
        "phase Revoked is final",
    ),
    StatusUpdate(
        "final-phase-kept",
        "TrainingJob",
        {"phase": "Failed"},
        {"phase": "Failed", "reason": "BackoffLimitExceeded", "completionTime": NOW},
    ),
    StatusUpdate(
        "running-to-succeeded", "TrainingJob", {"phase": "Running"}, {"phase": "Succeeded"}
    ),
    StatusUpdate(
        "uncharge",
        "TrainingJob",
        {"privacy": {"epsilon": 1.0, "charged": True}},
        {"privacy": {"epsilon": 1.0, "charged": False}},
        "status.privacy",
        "privacy loss is permanent",
    ),
    StatusUpdate(
        "refund",
        "TrainingJob",
        {"privacy": {"epsilon": 1.0, "charged": True}},
        {"privacy": {"epsilon": 0.5, "charged": True}},
        "status.privacy",
        "privacy loss is permanent",
    ),
    StatusUpdate(
        "charge-grows",
        "TrainingJob",
        {"privacy": {"epsilon": 1.0, "charged": True}},
        {"privacy": {"epsilon": 1.2, "charged": True}},
    ),
    StatusUpdate(
        "reserve-then-charge",
        "TrainingJob",
        {"privacy": {"epsilon": 1.0, "charged": False}},
        {"privacy": {"epsilon": 1.0, "charged": True}},
    ),
    StatusUpdate(
        "denial-without-reason",
        "TrainingJob",
        None,
        {"decision": {"allowed": False}},
        "status.decision.denials",
        "at least one denial",
    ),
    StatusUpdate(
        "allowed-with-denials",
        "TrainingJob",
        None,
        {"decision": DENIED | {"allowed": True}},
        "status.decision.denials",
        "at least one denial",
    ),
    StatusUpdate(
        "denial-code-not-camel-case",
        "TrainingJob",
        None,
        {"decision": DENIED | {"denials": [{"code": "no-grant", "message": "x"}]}},
        "status.decision.denials[0].code",
    ),
    StatusUpdate(
        "denied",
        "TrainingJob",
        None,
        {"phase": "Denied", "reason": "NoActiveGrant", "decision": DENIED},
    ),
    StatusUpdate(
        "condition-status-yes",
        "TrainingJob",
        None,
        {"conditions": [CONDITION | {"status": "Yes"}]},
        "status.conditions[0].status",
    ),
    StatusUpdate(
        "condition-reason-sentence",
        "TrainingJob",
        None,
        {"conditions": [CONDITION | {"reason": "not allowed!"}]},
        "status.conditions[0].reason",
    ),
    StatusUpdate(
        "condition-without-time",
        "TrainingJob",
        None,
        {"conditions": [{k: v for k, v in CONDITION.items() if k != "lastTransitionTime"}]},
        "status.conditions[0].lastTransitionTime",
    ),
    StatusUpdate(
        "condition-twice",
        "TrainingJob",
        None,
        {"conditions": [CONDITION, CONDITION]},
        "status.conditions[1]",
    ),
    StatusUpdate(
        "reason-with-spaces", "TrainingJob", None, {"reason": "Grant expired"}, "status.reason"
    ),
    StatusUpdate("unknown-phase", "TrainingJob", None, {"phase": "Queued"}, "status.phase"),
    StatusUpdate(
        "spent-decreases",
        "SpeechDataset",
        {"budget": {"epsilonSpent": 2.0}},
        {"budget": {"epsilonSpent": 1.0}},
        "status.budget.epsilonSpent",
        "can never decrease",
    ),
    StatusUpdate(
        "spent-dropped",
        "SpeechDataset",
        {"budget": {"epsilonSpent": 2.0}},
        {"budget": {"epsilonRemaining": 10.0}},
        "status.budget.epsilonSpent",
        "can never decrease",
    ),
    StatusUpdate(
        "spent-grows",
        "SpeechDataset",
        {"budget": {"epsilonSpent": 2.0}},
        {"budget": {"epsilonSpent": 3.0}},
    ),
    StatusUpdate(
        "bad-manifest-digest",
        "SpeechDataset",
        None,
        {"manifestDigest": "md5:abc"},
        "status.manifestDigest",
    ),
    StatusUpdate(
        "grant-unrevoked",
        "DataGrant",
        {"phase": "Revoked"},
        {"phase": "Active"},
        "status.phase",
        "phase Revoked is final",
    ),
    # Dropping the part of status a rule watches, or all of status, must not get around it.
    StatusUpdate(
        "privacy-dropped",
        "TrainingJob",
        {"privacy": {"epsilon": 1.0, "charged": True}},
        {"phase": "Running"},
        "status.privacy",
        "privacy loss is permanent",
    ),
    StatusUpdate(
        "status-dropped-after-charge",
        "TrainingJob",
        {"privacy": {"epsilon": 1.0, "charged": True}},
        None,
        "status.privacy",
        "privacy loss is permanent",
    ),
    StatusUpdate(
        "status-dropped-when-final",
        "TrainingJob",
        {"phase": "Succeeded"},
        None,
        "status.phase",
        "phase Succeeded is final",
    ),
    StatusUpdate("status-dropped-before-final", "TrainingJob", {"phase": "Running"}, None),
    StatusUpdate(
        "budget-dropped",
        "SpeechDataset",
        {"budget": {"epsilonSpent": 2.0}},
        {"phase": "Ready"},
        "status.budget.epsilonSpent",
        "can never decrease",
    ),
    StatusUpdate(
        "dataset-status-dropped",
        "SpeechDataset",
        {"budget": {"epsilonSpent": 2.0}},
        None,
        "status.budget.epsilonSpent",
        "can never decrease",
    ),
    StatusUpdate(
        "grant-status-dropped",
        "DataGrant",
        {"phase": "Revoked"},
        None,
        "status.phase",
        "phase Revoked is final",
    ),
    StatusUpdate("grant-expires", "DataGrant", {"phase": "Active"}, {"phase": "Expired"}),
]


@pytest.mark.parametrize("case", STATUS_UPDATES, ids=lambda c: f"{c.kind}-{c.id}")
def test_status_update(
    objects: Objects, base: Base, crds: list[str], namespace: str, case: StatusUpdate
) -> None:
    obj = _create(objects, base(case.kind), namespace)
    if case.before is not None:
        obj["status"] = case.before
        obj = objects.replace_status(obj, namespace)
    obj.pop("status", None)
    if case.after is not None:
        obj["status"] = case.after
    if not case.field:
        assert objects.replace_status(obj, namespace, dry_run=True).get("status") == case.after
        return
    message = objects.rejection(lambda: objects.replace_status(obj, namespace, dry_run=True))
    assert ERROR.findall(message) == [case.field], message
    assert case.says in message, message
