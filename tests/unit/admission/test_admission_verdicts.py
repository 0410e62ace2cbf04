"""What `kubectl apply` shows for a decision: every denial, the decision id, one message."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY

from voxgate.admission import (
    audit_record,
    count_decision,
    decision_refusal,
    precheck_refusal,
    unknown_webhook,
)
from voxgate.audit.scrub import DETAIL_KEYS
from voxgate.policy import Decision, Denial, Obligations, unavailable

REVISION = "sha256:" + "ab12" * 16


def decision(*denials: Denial) -> Decision:
    return Decision(
        allowed=not denials,
        denials=denials,
        obligations=Obligations(),
        policy_revision=REVISION,
        decision_id="d-42",
    )


def sample(result: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        "voxgate_decisions_total", {"source": "webhook", "result": result, "code": code}
    )
    return value or 0.0


def test_allowed_is_no_refusal() -> None:
    assert decision_refusal(decision()) is None


def test_every_denial_is_in_one_message_with_the_decision_id() -> None:
    refusal = decision_refusal(
        decision(
            Denial("DPRequired", "raw data needs differential privacy"),
            Denial("RegistryNotApproved", "docker.io is not an approved registry"),
        )
    )
    assert refusal == (
        "TrainingJob denied (decision d-42, policy sha256:ab12ab12ab12): "
        "DPRequired: raw data needs differential privacy; "
        "RegistryNotApproved: docker.io is not an approved registry"
    )


def test_policy_unavailable_is_a_refusal_too() -> None:
    refusal = decision_refusal(unavailable("no answer within 2s", decision_id="d-7"))
    assert refusal is not None
    assert refusal.startswith("TrainingJob denied (decision d-7): PolicyUnavailable: ")
    assert "no answer within 2s" in refusal


def test_precheck_refusal_names_the_code() -> None:
    refusal = precheck_refusal("DatasetNotFound", "SpeechDataset d/x does not exist")
    assert refusal.endswith("DatasetNotFound: SpeechDataset d/x does not exist")


def test_decisions_are_counted_per_code_as_webhook() -> None:
    before = sample("denied", "DPRequired"), sample("denied", "GrantMissing"), sample("allowed", "")
    count_decision(decision(Denial("DPRequired", "m"), Denial("GrantMissing", "m")))
    count_decision(decision())
    after = sample("denied", "DPRequired"), sample("denied", "GrantMissing"), sample("allowed", "")
    assert [a - b for a, b in zip(after, before, strict=True)] == [1.0, 1.0, 1.0]


def test_audit_record_of_a_webhook_decision() -> None:
    denied = decision(Denial("DPRequired", "m"), Denial("GrantMissing", "m"))
    decided_at = datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert audit_record(denied, "alice", decided_at) == (
        "decision.denied",
        {
            "decisionId": "d-42",
            "decidedAt": "2026-05-01T12:00:00.250000Z",
            "policyRevision": REVISION,
            "source": "webhook",
            "requester": "alice",
            "codes": ["DPRequired", "GrantMissing"],
        },
    )
    event, details = audit_record(decision(), "bob", decided_at)
    assert event == "decision.allowed" and details["codes"] == []
    # Every key is one the audit trail accepts (it refuses records with any other key).
    assert set(details) <= DETAIL_KEYS


def test_a_call_at_an_unknown_path_is_refused_naming_the_path() -> None:
    review = {"apiVersion": "admission.k8s.io/v1", "request": {"uid": "u-7", "operation": "CREATE"}}
    answer = unknown_webhook(review, "validate-everything")
    assert answer["kind"] == "AdmissionReview"
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["response"]["uid"] == "u-7"
    assert answer["response"]["allowed"] is False
    message = answer["response"]["status"]["message"]
    assert "no admission webhook at path /validate-everything" in message


def test_a_malformed_review_at_an_unknown_path_is_refused_all_the_same() -> None:
    for review in ({}, {"request": None}, {"request": {"uid": 42}}):
        answer = unknown_webhook(review, None)
        assert answer["response"]["allowed"] is False
        assert answer["response"]["uid"] == ""
