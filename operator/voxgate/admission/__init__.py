"""Admission webhooks, the pure part: who asked (stamps), who may approve (grants), and what a
TrainingJob's decision means at `kubectl apply` (verdicts). No kopf here; voxgate.handlers.admission
registers the webhook handlers and calls these functions.
"""

from voxgate.admission.configurations import (
    MUTATE_REQUESTER,
    VALIDATE_DATAGRANT,
    VALIDATE_TRAININGJOB,
    WEBHOOK_IDS,
    WebhookConfigError,
    WebhookEndpoint,
    webhook_configurations,
)
from voxgate.admission.grants import grant_refusal
from voxgate.admission.identity import (
    APPROVED_BY,
    REQUESTED_BY,
    REVOKED_BY,
    Identity,
    InvalidUserInfo,
)
from voxgate.admission.stamps import ObjectChange, annotation_changes, with_requester
from voxgate.admission.verdicts import (
    audit_record,
    count_decision,
    decision_refusal,
    precheck_refusal,
    unknown_webhook,
)

__all__ = [
    "APPROVED_BY",
    "MUTATE_REQUESTER",
    "REQUESTED_BY",
    "REVOKED_BY",
    "VALIDATE_DATAGRANT",
    "VALIDATE_TRAININGJOB",
    "WEBHOOK_IDS",
    "Identity",
    "InvalidUserInfo",
    "ObjectChange",
    "WebhookConfigError",
    "WebhookEndpoint",
    "annotation_changes",
    "audit_record",
    "count_decision",
    "decision_refusal",
    "grant_refusal",
    "precheck_refusal",
    "unknown_webhook",
    "webhook_configurations",
    "with_requester",
]
