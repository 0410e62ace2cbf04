"""The admission decision for a TrainingJob, shared by the reconciler and the validating webhook.

Both gather the same world (the dataset, its parents, the grants for it, the privacy ledger),
account the job's epsilon the same way and send OPA the same input, so `kubectl apply` and the
job's status can never tell two different stories about one job.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from voxgate.policy import Decision
from voxgate.policy.inputs import (
    DecisionInput,
    GrantUse,
    LedgerView,
    Requester,
    dataset_key,
    grants_for,
    parents_of,
)
from voxgate.privacy import ledger as ledgers
from voxgate.privacy.accountant import epsilon as job_epsilon
from voxgate.privacy.params import DPSGDParams
from voxgate.privacy.store import Sighting

if TYPE_CHECKING:
    # Only for the annotation: trainingjob imports this module, not the other way round.
    from voxgate.reconcile.trainingjob import Operator

Object = dict[str, Any]


class DatasetNotFound(LookupError):
    """The SpeechDataset a TrainingJob names does not exist; the message names it."""


@dataclass(frozen=True)
class World:
    dataset: Object | None
    parents: tuple[Object, ...] = ()
    grants: tuple[Object, ...] = ()
    ledger: ledgers.Ledger | None = None


class Catalog(Protocol):
    """Datasets and grants as a watch-fed cache holds them (the webhook's kopf indexes), and the
    ledger as this process last saw it.

    Any answer may be None: not known to the cache (yet), ask the API server instead. A ledger
    comes as a Sighting, because "there is no ledger" is an answer too.
    """

    def dataset(self, namespace: str, name: str) -> Object | None: ...

    def grants(self, namespace: str) -> list[Object] | None: ...

    def ledger(self, namespace: str, dataset: str) -> Sighting | None: ...


async def gather(op: Operator, job: Object, catalog: Catalog | None = None) -> World:
    """The reads at once: the validating webhook answers inside `kubectl apply`, so its
    latency is the slowest read, not their sum. Datasets, grants and the ledger come from
    `catalog` when it has them; the reconciler passes none and reads everything fresh (a read
    it shares with other passes was sent after it asked: SharedReads), and its reservation has
    the last word on the ledger anyway (compare-and-swap)."""
    namespace, name = dataset_key(job)

    async def dataset_of(dataset_name: str) -> Object | None:
        cached = catalog.dataset(namespace, dataset_name) if catalog is not None else None
        if cached is not None:
            return cached
        found: Object | None = await op.reads.read(
            ("SpeechDataset", namespace, dataset_name),
            lambda: op.kube.get("SpeechDataset", namespace, dataset_name),
        )
        return found

    async def grants_of() -> list[Object]:
        cached = catalog.grants(namespace) if catalog is not None else None
        if cached is not None:
            return cached
        listed: list[Object] = await op.reads.read(
            ("DataGrant", namespace), lambda: op.kube.list("DataGrant", namespace)
        )
        return listed

    async def ledger_of() -> ledgers.Ledger | None:
        seen = catalog.ledger(namespace, name) if catalog is not None else None
        if seen is not None:
            return seen.ledger
        read: ledgers.Ledger | None = await op.reads.read(
            ("ledger", namespace, name), lambda: op.ledger.read(namespace, name), immutable=True
        )
        return read

    dataset, grants, ledger = await asyncio.gather(dataset_of(name), grants_of(), ledger_of())
    if dataset is None:
        return World(None)
    # Parents by name (a derived dataset names a few), not a list of every dataset beside it.
    wanted = [p.get("name") for p in dataset.get("spec", {}).get("derivedFrom", [])]
    found = await asyncio.gather(*(dataset_of(parent) for parent in wanted if parent))
    parents = parents_of(dataset, [p for p in found if p is not None])
    return World(dataset, parents, grants_for(dataset, grants), ledger)


def dp_params(job: Mapping[str, Any]) -> DPSGDParams | None:
    """The job's DP-SGD parameters; raises InvalidDPParams when they are unusable."""
    spec = job.get("spec", {}).get("privacy")
    return DPSGDParams.from_spec(spec) if spec else None


def ledger_view(world: World, params: DPSGDParams | None, job_uid: str) -> LedgerView:
    """The ledger as the policy sees it, with the composed epsilon this job would lead to.

    The job's own entry is left out: a pass that runs again after a crash (or a retry) must not
    find its earlier reservation standing in its own way.
    """
    assert world.dataset is not None
    ledger = world.ledger
    if ledger is not None and ledger.entry(job_uid) is not None:
        ledger = dataclasses.replace(
            ledger, entries=tuple(e for e in ledger.entries if e.uid != job_uid)
        )
    view = (
        LedgerView.unused(world.dataset)
        if ledger is None
        else LedgerView.from_summary(ledgers.summary(ledger))
    )
    if params is None:
        return view
    delta = float(world.dataset["spec"]["privacy"]["budget"]["delta"])
    grants = {
        name: GrantUse(
            use.epsilon_used,
            use.epsilon_reserved,
            ledgers.epsilon_after(ledger, params, delta, name),
        )
        for name, use in {
            **{g["metadata"]["name"]: GrantUse() for g in world.grants},
            **view.grants,
        }.items()
    }
    return dataclasses.replace(
        view, grants=grants, epsilon_after=ledgers.epsilon_after(ledger, params, delta)
    )


async def ask_policy(
    op: Operator,
    job: Object,
    world: World,
    params: DPSGDParams | None,
    *,
    now: datetime.datetime,
) -> tuple[Decision, float | None]:
    """The decision for `job` in `world`, and the epsilon the job would spend (None without DP)."""
    assert world.dataset is not None
    eps = job_epsilon(params) if params else None
    document = DecisionInput(
        training_job=job,
        dataset=world.dataset,
        parents=world.parents,
        grants=world.grants,
        ledger=ledger_view(world, params, str(job["metadata"].get("uid", ""))),
        epsilon=eps,
        delta=params.delta if params else None,
        requester=Requester.from_annotation(job),
        now=now,
    ).document()
    return await op.policy.decide(document), eps


async def decide_for(
    op: Operator, job: Object, catalog: Catalog | None = None
) -> tuple[Decision, float | None]:
    """Gather, account and ask OPA, exactly as the reconciler does.

    With a `catalog` (a cache), an allowed answer stands: the reconciler decides again from
    fresh reads before anything is created. A denial does not: a grant applied a moment ago may
    not have reached the cache, nor budget released a moment ago the cached ledger, so a denial
    is decided again from fresh reads before it stands.

    Raises DatasetNotFound when the dataset is missing and InvalidDPParams when spec.privacy is
    unusable: there is nothing to ask the policy about in either case.
    """
    now = op.clock()
    world = await gather(op, job, catalog)
    if world.dataset is not None:
        decision, eps = await ask_policy(op, job, world, dp_params(job), now=now)
        if decision.allowed or catalog is None:
            return decision, eps
        world = await gather(op, job)
    if world.dataset is None:
        namespace, name = dataset_key(job)
        raise DatasetNotFound(f"SpeechDataset {namespace}/{name} does not exist")
    return await ask_policy(op, job, world, dp_params(job), now=now)
