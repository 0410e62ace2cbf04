"""What the broker tells the audit trail: one record per answer, never a token or a key.

The subject has the audit record's shape ({kind, namespace, name, uid}): the TrainingJob when the
broker got that far, else the ServiceAccount, else empty (an unauthenticated caller). Detail keys
are within voxgate.audit.scrub.DETAIL_KEYS.
"""

from __future__ import annotations

from typing import Any, Protocol

from voxgate.broker.decision import Grant, Subject
from voxgate.broker.reasons import Reason
from voxgate.broker.views import AUDIENCE
from voxgate.broker.wire import KeyRequest

RELEASED = "credentials.released"
REFUSED = "credentials.refused"


class AuditSink(Protocol):
    def record(self, event: str, subject: dict[str, Any], details: dict[str, Any]) -> None:
        """Write one record; raising means it was not written (the broker then releases no
        keys). Called from a worker thread, possibly from several at once."""
        ...


def audit_subject(subject: Subject) -> dict[str, Any]:
    if subject.job is not None:
        return {
            "kind": "TrainingJob",
            "namespace": subject.job.namespace,
            "name": subject.job.name,
            "uid": subject.job_uid or "",
        }
    if subject.service_account is not None:
        account = subject.service_account
        return {"kind": "ServiceAccount", "namespace": account.namespace, "name": account.name}
    return {}


def released_details(grant: Grant, audience: str = AUDIENCE) -> dict[str, Any]:
    account = grant.subject.service_account
    return {
        "serviceAccount": str(account) if account else "",
        "audience": audience,
        "dataset": str(grant.dataset),
        "manifestDigest": grant.manifest_digest,
        "kekRef": grant.kek.id,
        "kekVersion": grant.kek.version,
        "shards": len(grant.shards),
        "expiresAt": grant.credentials_expire_at.isoformat(),
    }


def refused_details(reason: Reason, subject: Subject, request: KeyRequest | None) -> dict[str, Any]:
    details: dict[str, Any] = {"reason": str(reason)}
    if subject.service_account is not None:
        details["serviceAccount"] = str(subject.service_account)
    if request is not None:
        # What was asked for, as the caller claimed it; useful when tracing a probe.
        details["dataset"] = str(request.dataset)
        details["manifestDigest"] = request.manifest_digest
        details["shards"] = len(request.shards)
    return details
