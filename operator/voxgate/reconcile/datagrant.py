"""DataGrant: the phase follows time and `revoked`; once invalid, the jobs using it stop.

The phase is a pure function of the grant and the clock, together with the next instant at which
it will change, so the handler schedules one wake-up for that instant instead of polling.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voxgate.policy.inputs import rfc3339
from voxgate.privacy import ledger as ledgers
from voxgate.reconcile import reasons
from voxgate.reconcile.conditions import set_condition
from voxgate.reconcile.trainingjob import LIVE_PHASES, Event, Operator, Result, finish

APPROVED_BY = "voxgate.io/approved-by"


@dataclass(frozen=True)
class GrantPhase:
    phase: str  # Pending, Active, Expired, Revoked
    reason: str
    message: str
    next_change: datetime.datetime | None  # when the phase changes by time alone

    @property
    def valid(self) -> bool:
        return self.phase == "Active"


def _time(spec: Mapping[str, Any], key: str) -> datetime.datetime | None:
    value = spec.get(key)
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def grant_phase(grant: Mapping[str, Any], now: datetime.datetime) -> GrantPhase:
    spec = grant.get("spec", {})
    valid_from, expires = _time(spec, "validFrom"), _time(spec, "expiresAt")
    if spec.get("revoked"):
        return GrantPhase(
            "Revoked", reasons.GRANT_REVOKED_REASON, "revoked by a data steward", None
        )
    if expires is not None and expires <= now:
        return GrantPhase(
            "Expired", reasons.GRANT_EXPIRED_REASON, f"expired at {rfc3339(expires)}", None
        )
    if not spec.get("approved"):
        return GrantPhase(
            "Pending", reasons.GRANT_NOT_APPROVED, "waiting for a data steward's approval", expires
        )
    if valid_from is not None and valid_from > now:
        return GrantPhase(
            "Pending", reasons.GRANT_NOT_YET_VALID, f"valid from {rfc3339(valid_from)}", valid_from
        )
    until = f" until {rfc3339(expires)}" if expires else ""
    return GrantPhase("Active", reasons.GRANT_ACTIVE, f"approved and in its window{until}", expires)


def grant_status(
    grant: Mapping[str, Any],
    phase: GrantPhase,
    use: Mapping[str, Any] | None,
    now: datetime.datetime,
) -> dict[str, Any]:
    status = dict(grant.get("status") or {})
    generation = int(grant["metadata"].get("generation", 1))
    status.update(phase=phase.phase, observedGeneration=generation)
    if use is not None:
        status["epsilonUsed"] = float(use.get("epsilonUsed", 0.0))
        status["epsilonReserved"] = float(use.get("epsilonReserved", 0.0))
    approver = _approver(grant)
    if approver:
        status["approvedBy"] = approver
    status["conditions"] = set_condition(
        status.get("conditions", []),
        "Active",
        phase.valid,
        phase.reason,
        phase.message,
        generation=generation,
        now=now,
    )
    return status


def _approver(grant: Mapping[str, Any]) -> str | None:
    raw = grant.get("metadata", {}).get("annotations", {}).get(APPROVED_BY)
    try:
        stamp = json.loads(raw) if raw else None
    except ValueError:
        return None
    return str(stamp["username"]) if isinstance(stamp, dict) and "username" in stamp else None


async def reconcile_grant(op: Operator, grant: dict[str, Any]) -> tuple[Result, GrantPhase]:
    now = op.clock()
    phase = grant_phase(grant, now)
    meta = grant["metadata"]
    dataset = grant["spec"]["datasetRef"]["name"]
    ledger = await op.io(op.ledger.read, meta["namespace"], dataset)
    use = ledgers.summary(ledger)["grants"].get(meta["name"]) if ledger else None
    status = grant_status(grant, phase, use, now)
    events: list[Event] = []
    if not phase.valid and phase.phase in ("Expired", "Revoked"):
        stopped = await stop_jobs_using(op, meta["namespace"], dataset, meta["name"], phase)
        if stopped:
            events.append(
                Event("Warning", phase.reason, f"stopped {stopped} running TrainingJob(s)")
            )
    previous = (grant.get("status") or {}).get("phase")
    if previous != phase.phase and phase.phase in ("Expired", "Revoked"):
        op.audit.record(
            f"grant.{phase.phase.lower()}",
            {
                "kind": "DataGrant",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta.get("uid"),
            },
            {"dataset": dataset},
        )
    return Result(status, events), phase


async def stop_jobs_using(
    op: Operator, namespace: str, dataset: str, grant: str | None, why: GrantPhase
) -> int:
    """Revoke every live TrainingJob on the dataset (charged to `grant`, when given)."""
    reason = {
        "Revoked": reasons.GRANT_REVOKED,
        "Expired": reasons.GRANT_EXPIRED,
    }.get(why.phase, reasons.CONSENT_EXPIRED)
    stopped = 0
    for job in await op.io(op.kube.list, "TrainingJob", None):
        status = job.get("status") or {}
        ref = job["spec"]["datasetRef"]
        if (
            status.get("phase") in LIVE_PHASES
            and ref["name"] == dataset
            and (ref.get("namespace") or job["metadata"]["namespace"]) == namespace
            and (grant is None or (status.get("decision") or {}).get("grant") == grant)
        ):
            message = f"stopped: {why.message}"
            result = await finish(
                op, job, "Revoked", reason=reason, message=message, now=op.clock()
            )
            meta = job["metadata"]
            await op.io(
                op.kube.patch_status, "TrainingJob", meta["namespace"], meta["name"], result.status
            )
            for event in result.events:
                await op.io(
                    lambda e=event, j=job: op.kube.event(
                        j, e.type, e.reason, e.message, now=op.clock()
                    )
                )
            stopped += 1
    return stopped
