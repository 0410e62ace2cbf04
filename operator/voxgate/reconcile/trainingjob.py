"""TrainingJob: gather, decide, apply.

    gather   the job's dataset, its parents, the grants for it, the ledger, the Job child (I/O)
    decide   the policy decision (OPA) and then pure functions that compute the status
    apply    reserve the epsilon, server-side apply the children, write the status if it changed

Every step is idempotent, because kopf handlers run at least once: the ledger entry is keyed by
the job's uid, the children are applied with deterministic names, and the status is derived
again from what exists. A reservation made by a run that died before writing its status is
found and reused (or released, if the decision is now a denial).
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from voxgate import metrics
from voxgate.audit.record import format_time
from voxgate.builders.errors import WorkloadPlanError
from voxgate.builders.names import ChildNames
from voxgate.builders.plan import WorkloadPlan
from voxgate.builders.progress import Progress, job_progress
from voxgate.builders.workload import build_children
from voxgate.policy import Decision, Denial
from voxgate.policy.client import PolicyClient
from voxgate.policy.inputs import dataset_key, rfc3339
from voxgate.privacy import ledger as ledgers
from voxgate.privacy.ledger import Budget, BudgetExceeded, EntryState
from voxgate.privacy.params import DPSGDParams, InvalidDPParams
from voxgate.privacy.store import LedgerStore
from voxgate.reconcile import reasons
from voxgate.reconcile.conditions import set_condition
from voxgate.reconcile.decide import World as World  # noqa: PLC0414 - re-exported, moved there
from voxgate.reconcile.decide import ask_policy, dp_params, gather
from voxgate.reconcile.kube import KubeGateway
from voxgate.reconcile.sharedreads import SharedReads
from voxgate.settings import OperatorSettings

log = logging.getLogger(__name__)

Object = dict[str, Any]
LIVE_PHASES = ("Admitted", "Running")
FINAL_PHASES = ("Denied", "Succeeded", "Failed", "Revoked")
POLICY_RETRY_SECONDS = 10.0
DATASET_RETRY_SECONDS = 30.0


class AuditSink(Protocol):
    def record(
        self, event: str, subject: Mapping[str, Any], details: Mapping[str, Any]
    ) -> None: ...


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class Result:
    """What one reconcile pass decided; the handler posts the events and schedules the retry."""

    status: Object
    events: list[Event] = field(default_factory=list)
    retry_after: float | None = None


@dataclass
class Operator:
    """Everything a reconcile pass needs; one per operator process."""

    kube: KubeGateway
    policy: PolicyClient
    ledger: LedgerStore
    settings: OperatorSettings
    audit: AuditSink
    clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)
    # uids of the jobs whose ServiceAccount this process knows to be live; rebuilt after a
    # restart as kopf resumes every job, so the gauge never drifts the way inc/dec would.
    live_credentials: set[str] = field(default_factory=set)
    # When each dataset's ledger was last swept for vanished jobs (voxgate.reconcile.sweep).
    ledger_swept_at: dict[tuple[str, str], datetime.datetime] = field(default_factory=dict)
    # The admission reads (dataset, grants, ledger) that passes running at once share.
    reads: SharedReads = field(default_factory=SharedReads)
    # Admission passes running at once (settings.max_concurrent_admissions), taken in arrival
    # order. Unbounded, a burst of jobs is decided in its first second or two, then every one of
    # them waits seconds for its children, since all their writes share the API server at once:
    # decisions went stale while waiting. Bounded, a job is decided when it can be applied.
    admissions: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.admissions = asyncio.Semaphore(self.settings.max_concurrent_admissions)

    def credentials_live(self, uid: str, live: bool) -> None:
        if live:
            self.live_credentials.add(uid)
        else:
            self.live_credentials.discard(uid)
        metrics.CREDENTIALS_ACTIVE.set(len(self.live_credentials))

    async def io(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(function, *args)


def subject(job: Mapping[str, Any]) -> dict[str, Any]:
    meta = job["metadata"]
    return {
        "kind": "TrainingJob",
        "namespace": meta["namespace"],
        "name": meta["name"],
        "uid": meta.get("uid"),
    }


# -- the pass --------------------------------------------------------------------------------


async def reconcile(op: Operator, job: Object) -> Result:
    status = dict(job.get("status") or {})
    phase = status.get("phase")
    generation = int(job["metadata"].get("generation", 1))
    if phase in FINAL_PHASES:
        return Result(status)
    if phase in LIVE_PHASES and status.get("observedGeneration") == generation:
        op.credentials_live(job["metadata"]["uid"], True)
        return await _follow_progress(op, job)
    metrics.ADMISSIONS_WAITING.inc()
    try:
        await op.admissions.acquire()
    finally:
        metrics.ADMISSIONS_WAITING.dec()
    try:
        return await _admit(op, job)
    finally:
        op.admissions.release()


async def _admit(op: Operator, job: Object) -> Result:
    now = op.clock()
    begin = now
    world = await gather(op, job)
    if world.dataset is None:
        namespace, name = dataset_key(job)
        message = f"SpeechDataset {namespace}/{name} does not exist (yet); retrying"
        return Result(
            pending_status(job, reasons.DATASET_NOT_FOUND, message, now),
            retry_after=DATASET_RETRY_SECONDS,
        )
    try:
        params = dp_params(job)
    except InvalidDPParams as error:
        return Result(pending_status(job, reasons.INVALID_PRIVACY, str(error), now))
    decision, eps = await ask_policy(op, job, world, params, now=now)
    decided_at = op.clock()
    metrics.DECISION_SECONDS.labels(source="reconciler").observe(
        (decided_at - begin).total_seconds()
    )
    _count_decision(decision)
    if not decision.allowed and decision.codes == (reasons.POLICY_UNAVAILABLE,):
        # Fail closed, but not final: the engine may answer on the next try.
        message = decision.denials[0].message
        return Result(
            pending_status(job, reasons.POLICY_UNAVAILABLE, message, now),
            [Event("Warning", reasons.POLICY_UNAVAILABLE, message)],
            retry_after=POLICY_RETRY_SECONDS,
        )
    if not decision.allowed:
        await _release_reservation(op, job, world.dataset, now)
        details = _decision_details(decision, eps, decided_at)
        op.audit.record("decision.denied", subject(job), details)
        return Result(denied_status(job, decision, eps, now), [denied_event(decision)])

    return await _admit_allowed(
        op, job, world, decision, params=params, eps=eps, now=now, decided_at=decided_at
    )


async def _admit_allowed(
    op: Operator,
    job: Object,
    world: World,
    decision: Decision,
    *,
    params: DPSGDParams | None,
    eps: float | None,
    now: datetime.datetime,
    decided_at: datetime.datetime,
) -> Result:
    assert world.dataset is not None
    try:
        # Built before anything is reserved: a workload that cannot be built safely is a denial.
        plan = WorkloadPlan(
            job=job, dataset=world.dataset, decision=decision, dp_params=params, epsilon=eps,
            settings=op.settings,
        )  # fmt: skip
        children = build_children(plan)
    except WorkloadPlanError as error:
        unbuildable = _replace_denials(decision, Denial(reasons.WORKLOAD_INVALID, str(error)))
        await _release_reservation(op, job, world.dataset, now)
        details = _decision_details(unbuildable, eps, decided_at)
        op.audit.record("decision.denied", subject(job), details)
        return Result(denied_status(job, unbuildable, eps, now), [denied_event(unbuildable)])
    grant = decision.obligations_document.get("chargeGrant")
    if params is not None and eps is not None:
        try:
            await op.io(
                functools.partial(_reserve, op, job, world, params, grant=str(grant or ""), now=now)
            )
        except BudgetExceeded as error:
            # Another job reserved first: the ledger, not the earlier snapshot, has the last word.
            lost = _replace_denials(decision, Denial(reasons.BUDGET_RACE_LOST, str(error)))
            details = _decision_details(lost, eps, decided_at)
            op.audit.record("decision.denied", subject(job), details)
            return Result(denied_status(job, lost, eps, now), [denied_event(lost)])
        op.audit.record("ledger.reserved", subject(job), {"epsilon": eps, "grant": grant})
    # Two round trips, not five: the Job only once everything it depends on exists.
    await asyncio.gather(*(op.io(op.kube.apply, child) for child in children.prerequisites()))
    await op.io(op.kube.apply, children.job)
    events = [
        Event("Warning", reasons.EGRESS_UNSUPPORTED, f"egress endpoint {endpoint} cannot be "
              "expressed in a NetworkPolicy (only CIDR:port can); it stays blocked")
        for endpoint in children.unsupported_egress
    ]  # fmt: skip
    details = _decision_details(decision, eps, decided_at)
    op.audit.record("decision.allowed", subject(job), details)
    op.credentials_live(job["metadata"]["uid"], True)
    expires = credentials_expire_at(job, world, decision, now)
    status = admitted_status(
        job, decision, eps=eps, params=params, names=plan.names, expires=expires, now=now
    )
    # No Normal "Admitted" Event: the Admitted condition and the audit record say it, and an
    # Event is one more API write per job (the budget is children + 2: ledger and status).
    return Result(status, events)


def _reserve(
    op: Operator,
    job: Object,
    world: World,
    params: DPSGDParams,
    *,
    grant: str,
    now: datetime.datetime,
) -> None:
    assert world.dataset is not None
    meta = job["metadata"]
    budget = dataset_budget(world.dataset, world.grants)
    entry = ledgers.new_entry(
        meta["uid"],
        job_namespace=meta["namespace"],
        job_name=meta["name"],
        grant=grant,
        params=params,
        at=now,
    )
    dataset_meta = world.dataset["metadata"]
    op.ledger.reserve(dataset_meta["namespace"], dataset_meta["name"], entry, budget)


def dataset_budget(dataset: Mapping[str, Any], grants: tuple[Object, ...]) -> Budget:
    budget = dataset["spec"]["privacy"]["budget"]
    allowances = {
        g["metadata"]["name"]: float(g["spec"]["privacy"]["epsilon"])
        for g in grants
        if g.get("spec", {}).get("privacy", {}).get("epsilon")
    }
    return Budget(float(budget["epsilon"]), float(budget["delta"]), allowances)


async def _release_reservation(
    op: Operator, job: Object, dataset: Object, now: datetime.datetime
) -> None:
    """A reservation left by an earlier pass whose decision has become a denial goes back."""
    meta, dataset_meta = job["metadata"], dataset["metadata"]
    ledger = await op.io(op.ledger.read, dataset_meta["namespace"], dataset_meta["name"])
    entry = ledger.entry(meta["uid"]) if ledger else None
    if entry is not None and entry.state == EntryState.RESERVED:
        await op.io(
            op.ledger.release, dataset_meta["namespace"], dataset_meta["name"], meta["uid"], now
        )
        op.audit.record("ledger.released", subject(job), {"epsilon": entry.epsilon})


def _replace_denials(decision: Decision, denial: Denial) -> Decision:
    return Decision(
        allowed=False,
        denials=(denial,),
        obligations=decision.obligations,
        policy_revision=decision.policy_revision,
        decision_id=decision.decision_id,
        obligations_document=decision.obligations_document,
    )


# -- following the Job -----------------------------------------------------------------------


async def _follow_progress(op: Operator, job: Object) -> Result:
    now = op.clock()
    names = ChildNames.for_job(job["metadata"]["name"])
    namespace = job["metadata"]["namespace"]
    batch_job = await op.io(op.kube.get_batch_job, namespace, names.job)
    progress = job_progress(
        batch_job.get("status") if batch_job else None, workers=job["spec"].get("workers")
    )
    status = dict(job.get("status") or {})
    if progress.phase in ("Running", "Succeeded", "Failed") and (
        progress.active or progress.succeeded or progress.failed
    ):
        # Workers ran, so data keys may have been released: the charge is permanent from here.
        await _charge(op, job, now)
    if progress.phase in ("Succeeded", "Failed"):
        return await finish(
            op, job, progress.phase, reason=progress.reason, message=progress.message, now=now
        )
    status = progress_status(job, progress, now)
    return Result(status)


async def _charge(op: Operator, job: Object, now: datetime.datetime) -> None:
    if not job["spec"].get("privacy"):
        return
    namespace, name = dataset_key(job)
    uid = job["metadata"]["uid"]
    ledger = await op.io(op.ledger.read, namespace, name)
    entry = ledger.entry(uid) if ledger else None
    if entry is not None and entry.state == EntryState.RESERVED:
        await op.io(op.ledger.charge, namespace, name, uid, now)
        op.audit.record("ledger.charged", subject(job), {"epsilon": entry.epsilon})


async def finish(
    op: Operator, job: Object, phase: str, *, reason: str, message: str, now: datetime.datetime
) -> Result:
    """Make a job final: stop its work, revoke its credentials, settle its ledger entry."""
    meta = job["metadata"]
    names = ChildNames.for_job(meta["name"])
    if phase == "Revoked":
        await op.io(op.kube.delete_batch_job, meta["namespace"], names.job)
    await revoke_credentials(op, job)
    if job["spec"].get("privacy"):
        namespace, name = dataset_key(job)
        ledger = await op.io(op.ledger.read, namespace, name)
        entry = ledger.entry(meta["uid"]) if ledger else None
        if entry is not None and entry.state in (EntryState.RESERVED, EntryState.CHARGED):
            await op.io(op.ledger.finish, namespace, name, meta["uid"], now)
            settled = "ledger.settled" if entry.state == EntryState.CHARGED else "ledger.released"
            op.audit.record(settled, subject(job), {"epsilon": entry.epsilon})
    op.audit.record(f"job.{phase.lower()}", subject(job), {"reason": reason})
    status = final_status(job, phase, reason, message, now)
    kind = "Normal" if phase == "Succeeded" else "Warning"
    return Result(status, [Event(kind, reason, message)])


async def revoke_credentials(op: Operator, job: Object) -> None:
    meta = job["metadata"]
    names = ChildNames.for_job(meta["name"])
    op.credentials_live(meta["uid"], False)
    if await op.io(op.kube.delete_service_account, meta["namespace"], names.service_account):
        op.audit.record(
            "credentials.revoked", subject(job), {"serviceAccount": names.service_account}
        )


# -- pure: status ----------------------------------------------------------------------------


def _base(job: Mapping[str, Any]) -> tuple[Object, int]:
    return dict(job.get("status") or {}), int(job["metadata"].get("generation", 1))


def pending_status(
    job: Mapping[str, Any], reason: str, message: str, now: datetime.datetime
) -> Object:
    status, generation = _base(job)
    status.update(phase="Pending", reason=reason, message=message, observedGeneration=generation)
    status["conditions"] = set_condition(
        status.get("conditions", []),
        "Admitted",
        None,
        reason,
        message,
        generation=generation,
        now=now,
    )
    return status


def denied_status(
    job: Mapping[str, Any], decision: Decision, eps: float | None, now: datetime.datetime
) -> Object:
    status, generation = _base(job)
    first = decision.denials[0]
    message = "; ".join(f"{d.code}: {d.message}" for d in decision.denials)
    status.update(
        phase="Denied",
        reason=first.code,
        message=message[:1024],
        observedGeneration=generation,
        decision={**decision.as_status(), "time": rfc3339(now), "grant": None},
    )
    if eps is not None:
        status["privacy"] = {
            "epsilon": eps,
            "delta": job["spec"]["privacy"]["delta"],
            "charged": False,
        }
    status["conditions"] = set_condition(
        status.get("conditions", []),
        "Admitted",
        False,
        first.code,
        message,
        generation=generation,
        now=now,
    )
    return status


def denied_event(decision: Decision) -> Event:
    codes = ", ".join(decision.codes)
    return Event("Warning", reasons.DENIED, f"denied ({codes}): {decision.denials[0].message}")


def admitted_status(
    job: Mapping[str, Any],
    decision: Decision,
    *,
    eps: float | None,
    params: DPSGDParams | None,
    names: ChildNames,
    expires: datetime.datetime,
    now: datetime.datetime,
) -> Object:
    status, generation = _base(job)
    grant = decision.obligations_document.get("chargeGrant")
    message = f"admitted under policy {decision.policy_revision[:19]}; workload created"
    status.update(
        phase="Admitted",
        reason=reasons.WORKLOAD_CREATED,
        message=message,
        observedGeneration=generation,
        decision={**decision.as_status(), "time": rfc3339(now), "grant": grant},
        credentialsExpireAt=rfc3339(expires),
        children=names.as_status(),
    )
    if params is not None and eps is not None:
        status["privacy"] = {"epsilon": eps, "delta": params.delta, "charged": True}
    conditions = set_condition(
        status.get("conditions", []),
        "Admitted",
        True,
        reasons.ADMITTED,
        message,
        generation=generation,
        now=now,
    )
    status["conditions"] = set_condition(
        conditions,
        "Running",
        False,
        reasons.NOT_STARTED,
        "no worker has started",
        generation=generation,
        now=now,
    )
    return status


def progress_status(job: Mapping[str, Any], progress: Progress, now: datetime.datetime) -> Object:
    phase, reason, message = progress.phase, progress.reason, progress.message
    status, generation = _base(job)
    status.update(phase=phase, reason=reason, message=message)
    status["workers"] = {
        "active": progress.active,
        "succeeded": progress.succeeded,
        "failed": progress.failed,
    }
    if progress.start_time and not status.get("startTime"):
        status["startTime"] = progress.start_time
    running = phase == "Running"
    status["conditions"] = set_condition(
        status.get("conditions", []),
        "Running",
        running,
        reason,
        message,
        generation=generation,
        now=now,
    )
    return status


def final_status(
    job: Mapping[str, Any], phase: str, reason: str, message: str, now: datetime.datetime
) -> Object:
    status, generation = _base(job)
    status.update(phase=phase, reason=reason, message=message, completionTime=rfc3339(now))
    conditions = set_condition(
        status.get("conditions", []),
        "Running",
        False,
        reason,
        message,
        generation=generation,
        now=now,
    )
    status["conditions"] = set_condition(
        conditions,
        "Succeeded",
        phase == "Succeeded",
        reason,
        message,
        generation=generation,
        now=now,
    )
    return status


def credentials_expire_at(
    job: Mapping[str, Any], world: World, decision: Decision, now: datetime.datetime
) -> datetime.datetime:
    """No credential outlives the job's deadline, its grant's window or the dataset's consent."""
    deadline = now + datetime.timedelta(
        seconds=int(job["spec"].get("activeDeadlineSeconds", 86400))
    )
    limits = [deadline]
    grant_name = decision.obligations_document.get("chargeGrant")
    for grant in world.grants:
        if grant["metadata"]["name"] == grant_name and grant["spec"].get("expiresAt"):
            limits.append(_parse(grant["spec"]["expiresAt"]))
    consent = (world.dataset or {}).get("spec", {}).get("consent", {})
    if consent.get("expiresAt"):
        limits.append(_parse(consent["expiresAt"]))
    return min(limits)


def _parse(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _decision_details(
    decision: Decision, eps: float | None, decided_at: datetime.datetime
) -> dict[str, Any]:
    # The record is written once the outcome took effect (children applied, status known),
    # which under a burst can be seconds after the policy answered: decidedAt keeps that moment.
    return {
        "decisionId": decision.decision_id,
        "policyRevision": decision.policy_revision,
        "codes": list(decision.codes),
        "epsilon": eps,
        "decidedAt": format_time(decided_at),
    }


def _count_decision(decision: Decision) -> None:
    if decision.allowed:
        metrics.DECISIONS.labels(source="reconciler", result="allowed", code="").inc()
        return
    for code in decision.codes:
        metrics.DECISIONS.labels(source="reconciler", result="denied", code=code).inc()


def status_changed(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> bool:
    return dict(current or {}) != dict(desired)
