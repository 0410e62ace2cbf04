"""The kopf handlers: thin. They hand the object to voxgate.reconcile and apply what comes back.

Execution (gather, decide, apply) lives in voxgate.reconcile; here is registration, in two
registries, because two kopf operators run in one `voxgate operator run` process:

- `register_front`: start-up (the Operator value, the key broker, audit anchoring), the
  admission webhooks and their indexes. Every replica runs it, so the webhook and broker
  Services have a live endpoint on each one, leader or not.
- `register_reconcilers`: the resource handlers. Only the replica holding the leader Lease runs
  them (voxgate.handlers.leading), so two replicas never reconcile at once.

Importing this module also registers both with kopf's default registry, so that
`kopf run -m voxgate.handlers` runs everything in one kopf operator (one replica, no election).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
from collections.abc import Mapping
from typing import Any

import kopf

from voxgate import API_GROUP, API_VERSION
from voxgate.builders.progress import job_progress
from voxgate.handlers import admission, liveness
from voxgate.handlers.runtime import (
    FRONT_FINALIZER,
    admission_server,
    anchor_forever,
    api_executor,
    bounded_login,
    build_operator,
    configure,
    start_broker,
)
from voxgate.reconcile import trainingjob
from voxgate.reconcile.datagrant import reconcile_grant
from voxgate.reconcile.kube import without_bookkeeping
from voxgate.reconcile.speechdataset import reconcile_dataset
from voxgate.reconcile.trainingjob import Operator, Result

log = logging.getLogger(__name__)
MANAGED = {"app.kubernetes.io/managed-by": "voxgate"}
# A daemon wakes at the next time-driven change; this caps a sleep, in case the clock jumps.
MAX_SLEEP_SECONDS = 3600.0


async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Every replica: the one Operator value, webhooks, the key broker, audit anchoring."""
    configure(settings)
    asyncio.get_running_loop().set_default_executor(api_executor())
    memo.operator, anchorer = build_operator()
    settings.admission.server = admission_server(memo.operator.settings)
    memo.anchoring = asyncio.create_task(anchor_forever(anchorer))
    memo.broker = await start_broker(memo.operator)
    liveness.watching(memo, liveness.FRONT, memo.operator.settings)
    liveness.start_beating(memo, memo.operator.settings)


async def reconcilers_startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    """The reconcilers' own kopf: the same settings; the Operator value comes in the shared memo."""
    configure(settings)


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    operator: Operator | None = memo.get("operator")
    liveness.stop_beating(memo)
    anchoring: asyncio.Task[None] | None = memo.get("anchoring")
    if anchoring is not None:
        anchoring.cancel()
    broker = memo.get("broker")
    if broker is not None:
        await broker.close()
    if operator is not None:
        await operator.policy.close()


async def _apply(operator: Operator, kind: str, body: Mapping[str, Any], result: Result) -> None:
    meta = body["metadata"]
    if result.status != _status(body):
        await operator.io(
            operator.kube.patch_status, kind, meta["namespace"], meta["name"], result.status
        )
    await _post_events(operator, kind, body, result)


async def _post_events(
    operator: Operator, kind: str, body: Mapping[str, Any], result: Result
) -> None:
    regarding = {"apiVersion": body["apiVersion"], "kind": kind, "metadata": dict(body["metadata"])}
    for event in result.events:
        await operator.io(
            lambda e=event: operator.kube.event(
                regarding, e.type, e.reason, e.message, now=operator.clock()
            )
        )


def _deleted(type: str | None = None, **_: Any) -> bool:  # kopf passes the watch event type
    return type == "DELETED"


# -- TrainingJob -----------------------------------------------------------------------------


async def training_job(body: kopf.Body, memo: kopf.Memo, patch: kopf.Patch, **_: Any) -> None:
    """The status goes out in kopf's own patch, together with kopf's bookkeeping: one write."""
    operator: Operator = memo.operator
    result = await trainingjob.reconcile(operator, _plain(body))
    if result.status != _status(body):
        patch.setdefault("status", {}).update(result.status)
    await _post_events(operator, "TrainingJob", body, result)
    if result.retry_after is not None:
        raise kopf.TemporaryError(
            result.status.get("message", "retrying"), delay=result.retry_after
        )


async def worker_job(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """The Job's progress flows back into its TrainingJob's status."""
    owner = body["metadata"].get("labels", {}).get("voxgate.io/training-job")
    if not owner or job_progress(body.get("status")).phase == "Admitted":
        # No worker has started: the admission status already says all there is to say.
        return
    operator: Operator = memo.operator
    namespace = body["metadata"]["namespace"]
    job = await operator.io(operator.kube.get, "TrainingJob", namespace, owner)
    if job is None or (job.get("status") or {}).get("phase") not in trainingjob.LIVE_PHASES:
        return
    job = _plain(job)
    result = await trainingjob.reconcile(operator, job)
    await _apply(operator, "TrainingJob", job, result)


# No finalizer (no on.delete handler, which needs one to be sure to run): a deleted job's children,
# its ServiceAccount and Job included, go with it through their owner references even while the
# operator is down. When the operator sees the deletion it revokes at once and settles the
# ledger; the dataset's ledger sweep settles what vanished unseen (voxgate.reconcile.sweep).
async def training_job_deleted(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Deleted while live: credentials die now, not whenever the garbage collector runs."""
    operator: Operator = memo.operator
    job = _plain(body)
    if (job.get("status") or {}).get("phase") in trainingjob.LIVE_PHASES:
        await trainingjob.finish(
            operator,
            job,
            "Revoked",
            reason="Deleted",
            message="the TrainingJob was deleted",
            now=operator.clock(),
        )


# -- DataGrant -------------------------------------------------------------------------------


async def data_grant(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    operator: Operator = memo.operator
    result, _phase = await reconcile_grant(operator, _plain(body))
    await _apply(operator, "DataGrant", body, result)


async def data_grant_clock(
    stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """Sleeps until the grant's next time-driven change (validFrom, expiresAt), then applies it."""
    operator: Operator = memo.operator
    while not stopped:
        result, phase = await reconcile_grant(operator, _plain(body))
        await _apply(operator, "DataGrant", body, result)
        await stopped.wait(_seconds_until(phase.next_change, operator.clock()))


# -- SpeechDataset ---------------------------------------------------------------------------


async def speech_dataset(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    operator: Operator = memo.operator
    result, _next = await reconcile_dataset(operator, _plain(body))
    await _apply(operator, "SpeechDataset", body, result)


async def speech_dataset_clock(
    stopped: kopf.DaemonStopped, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    """Wakes at consent expiry; also refreshes the budget mirror now and then."""
    operator: Operator = memo.operator
    while not stopped:
        result, next_change = await reconcile_dataset(operator, _plain(body))
        await _apply(operator, "SpeechDataset", body, result)
        await stopped.wait(min(_seconds_until(next_change, operator.clock()), 60.0))


def _seconds_until(moment: datetime.datetime | None, now: datetime.datetime) -> float:
    if moment is None:
        return MAX_SLEEP_SECONDS
    return max(0.0, min((moment - now).total_seconds(), MAX_SLEEP_SECONDS))


def _plain(body: Mapping[str, Any]) -> dict[str, Any]:
    """A detached, plain copy without kopf's bookkeeping: reconcile code must not see kopf's
    live views change under it, nor write kopf's fields back. managedFields is left out before
    copying (nothing below reads it, and it is most of the object's size)."""
    shallow = dict(body)
    metadata = dict(shallow.get("metadata") or {})
    metadata.pop("managedFields", None)
    shallow["metadata"] = metadata
    return without_bookkeeping(copy.deepcopy(shallow))


def _status(body: Mapping[str, Any]) -> dict[str, Any]:
    """The status as voxgate wrote it (kopf's bookkeeping left out), to tell whether it changed."""
    return dict(without_bookkeeping(dict(body)).get("status") or {})


# -- registration ----------------------------------------------------------------------------


def register_front(registry: kopf.OperatorRegistry) -> None:
    kopf.on.startup(registry=registry)(startup)
    kopf.on.cleanup(registry=registry)(cleanup)
    admission.register(registry)
    liveness.register_front(registry)


def register_reconcilers(registry: kopf.OperatorRegistry) -> None:
    kopf.on.startup(registry=registry)(reconcilers_startup)
    liveness.register_reconcilers(registry)
    tj = (API_GROUP, API_VERSION, "trainingjobs")
    kopf.on.resume(*tj, registry=registry)(training_job)
    kopf.on.create(*tj, registry=registry)(training_job)
    kopf.on.event("batch", "v1", "jobs", labels=MANAGED, registry=registry)(worker_job)
    kopf.on.event(*tj, when=_deleted, registry=registry)(training_job_deleted)
    for plural, handler, clock in (
        ("datagrants", data_grant, data_grant_clock),
        ("speechdatasets", speech_dataset, speech_dataset_clock),
    ):
        kind = (API_GROUP, API_VERSION, plural)
        kopf.on.resume(*kind, registry=registry)(handler)
        kopf.on.create(*kind, registry=registry)(handler)
        kopf.on.update(*kind, registry=registry)(handler)
        kopf.daemon(*kind, cancellation_timeout=5.0, registry=registry)(clock)


def registries() -> tuple[kopf.OperatorRegistry, kopf.OperatorRegistry]:
    """Fresh (front, reconcilers) registries for `voxgate operator run`."""
    front, reconcilers = kopf.OperatorRegistry(), kopf.OperatorRegistry()
    for registry in (front, reconcilers):
        # Our login for both: a bare registry has no fallback, and the pool must be bounded.
        kopf.on.login(registry=registry)(bounded_login)
    register_front(front)
    kopf.on.startup(registry=front)(front_finalizer)
    register_reconcilers(reconcilers)
    return front, reconcilers


async def front_finalizer(settings: kopf.OperatorSettings, **_: Any) -> None:
    """A separate front must not own the reconcilers' finalizer (runtime.configure says why).

    Runs after `startup` has configured the settings: kopf runs the start-up handlers of one
    registry in the order they were registered, each to completion.
    """
    settings.persistence.finalizer = FRONT_FINALIZER


# `kopf run -m voxgate.handlers`: everything in kopf's default registry, one operator.
kopf.on.login()(bounded_login)
register_front(kopf.get_default_registry())
register_reconcilers(kopf.get_default_registry())
