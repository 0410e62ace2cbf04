"""What the validating webhook tells a researcher at `kubectl apply`.

A denied TrainingJob is rejected with every denial in one message and the decision id, so the
researcher can fix everything at once and a compliance officer can find the decision later. A
policy engine that gives no usable answer is a denial like any other (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from voxgate import metrics
from voxgate.audit.record import format_time
from voxgate.policy import Decision

# Enough of the policy revision (sha256:<hex>) to tell bundles apart, as the status shows it.
REVISION_CHARS = 19


def decision_refusal(decision: Decision) -> str | None:
    """The rejection message for a denied decision; None when the job is allowed."""
    if decision.allowed:
        return None
    reference = f"decision {decision.decision_id or 'unknown'}"
    if decision.policy_revision:
        reference += f", policy {decision.policy_revision[:REVISION_CHARS]}"
    reasons = "; ".join(f"{d.code}: {d.message}" for d in decision.denials)
    return f"TrainingJob denied ({reference}): {reasons}"


def precheck_refusal(code: str, message: str) -> str:
    """A job the policy cannot even be asked about (no such dataset, unusable DP parameters)."""
    return f"TrainingJob denied before the policy was asked: {code}: {message}"


def count_decision(decision: Decision, source: str = "webhook") -> None:
    if decision.allowed:
        metrics.DECISIONS.labels(source=source, result="allowed", code="").inc()
        return
    for code in decision.codes:
        metrics.DECISIONS.labels(source=source, result="denied", code=code).inc()


def audit_record(
    decision: Decision, requester: str, decided_at: datetime
) -> tuple[str, dict[str, Any]]:
    """(event, details) of the audit record for a webhook decision (see docs/audit.md)."""
    event = "decision.allowed" if decision.allowed else "decision.denied"
    details: dict[str, Any] = {
        "decisionId": decision.decision_id,
        "decidedAt": format_time(decided_at),
        "policyRevision": decision.policy_revision,
        "source": "webhook",
        "requester": requester,
        "codes": list(decision.codes),
    }
    return event, details


def unknown_webhook(review: Mapping[str, Any], webhook: str | None) -> dict[str, Any]:
    """The AdmissionReview answer to a call at a path no voxgate webhook serves: refused.

    kopf would run no handler for it and allow the request, so a WebhookConfiguration that
    names a path this operator does not serve (a chart and an image of different versions, a
    hand edit) would wave everything through. Refusing names the mismatch instead.
    """
    payload = review.get("request")
    uid = payload.get("uid", "") if isinstance(payload, Mapping) else ""
    return {
        "apiVersion": review.get("apiVersion") or "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {
            "uid": uid if isinstance(uid, str) else "",
            "allowed": False,
            "status": {
                "code": 404,
                "message": (
                    f"voxgate serves no admission webhook at path /{webhook or ''}; the "
                    "WebhookConfiguration and the operator disagree (chart and image versions?)"
                ),
            },
        },
    }
