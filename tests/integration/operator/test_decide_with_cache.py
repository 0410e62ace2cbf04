"""The webhook decides from a watch-fed cache; a cache that lags must never make it refuse a job
the fresh state allows. Real API server, real OPA, no operator process."""

from __future__ import annotations

import asyncio
from contextlib import closing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from voxgate.devcluster import ControlPlane
from voxgate.devcluster.opa import OpaServer
from voxgate.policy.client import PolicyClient
from voxgate.privacy.ledger import Budget, Ledger, LedgerEntry, new_entry, new_ledger
from voxgate.privacy.params import DPSGDParams
from voxgate.privacy.store import LedgerStore, Sighting
from voxgate.reconcile.decide import decide_for
from voxgate.reconcile.kube import KubeGateway
from voxgate.reconcile.trainingjob import Operator
from voxgate.settings import OperatorSettings

if TYPE_CHECKING:
    from tests.integration.operator.conftest import World as WorldType

pytestmark = pytest.mark.integration


class Records:
    def __init__(self) -> None:
        self.records: list[tuple[str, Any, Any]] = []

    def record(self, event: str, subject: Any, details: Any) -> None:
        self.records.append((event, subject, details))


class FixedCatalog:
    """A cache frozen at some moment: what it holds, or None (unknown) when told so."""

    def __init__(
        self,
        datasets: list[dict[str, Any]],
        grants: list[dict[str, Any]] | None,
        ledger: Sighting | None = None,
    ):
        self.datasets = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in datasets}
        self.cached_grants = grants
        self.cached_ledger = ledger
        self.asked = 0
        self.ledger_asked = 0

    def dataset(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.asked += 1
        return self.datasets.get((namespace, name))

    def grants(self, namespace: str) -> list[dict[str, Any]] | None:
        self.asked += 1
        return self.cached_grants

    def ledger(self, namespace: str, dataset: str) -> Sighting | None:
        self.ledger_asked += 1
        return self.cached_ledger


def decide(
    plane: ControlPlane, opa: OpaServer, job: dict[str, Any], catalog: FixedCatalog
) -> tuple[bool, tuple[str, ...]]:
    async def run() -> tuple[bool, tuple[str, ...]]:
        with closing(plane.api_client()) as api:
            operator = Operator(
                kube=KubeGateway(api),
                policy=PolicyClient(opa.url, timeout=5.0),
                ledger=LedgerStore.from_api_client(api),
                settings=OperatorSettings(),
                audit=Records(),
            )
            try:
                decision, _eps = await decide_for(operator, job, catalog)
            finally:
                await operator.policy.close()
            return decision.allowed, decision.codes

    return asyncio.run(run())


def granted_world(
    plane: ControlPlane, make_world: type[WorldType], uid: str
) -> tuple[WorldType, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The call-centre dataset and its grant, created; the admissible DP job, not created."""
    world = make_world(plane)
    dataset = world.create(world.example("datasets/callcentre-2024.yaml"))
    grant = world.create(world.example("grants/callcentre-team-asr.yaml"))
    job = world.example("jobs/admit-asr-callcentre-dp.yaml")
    job["metadata"]["uid"] = uid
    return world, dataset, grant, job


def test_a_cache_that_missed_the_grant_does_not_refuse_the_job(
    control_plane: ControlPlane,
    crds: list[str],
    policy_server: OpaServer,
    make_world: type[WorldType],
) -> None:
    _world, dataset, _grant, job = granted_world(control_plane, make_world, "cache-test")

    stale = FixedCatalog([dataset], grants=[])  # the grant's watch event has not arrived
    assert decide(control_plane, policy_server, job, stale) == (True, ())
    assert stale.asked >= 2  # the cache was consulted, and its denial decided again

    fresh = FixedCatalog([dataset], grants=None)  # nothing cached for the namespace: API reads
    assert decide(control_plane, policy_server, job, fresh) == (True, ())


def test_a_job_the_fresh_state_refuses_is_refused_with_its_reasons(
    control_plane: ControlPlane,
    crds: list[str],
    policy_server: OpaServer,
    make_world: type[WorldType],
) -> None:
    world = make_world(control_plane)
    dataset = world.create(world.example("datasets/callcentre-2024.yaml"))
    job = world.example("jobs/admit-asr-callcentre-dp.yaml")  # no grant exists at all
    job["metadata"]["uid"] = "cache-test-2"

    allowed, codes = decide(control_plane, policy_server, job, FixedCatalog([dataset], []))
    assert not allowed
    assert codes  # the policy's own reasons, decided again from fresh reads


GRANT = "callcentre-team-asr"
# Far more than the example dataset's whole budget (epsilon 3.0) in one run.
GREEDY = DPSGDParams(0.6, 0.05, 20000, 1e-6)


def greedy_entry() -> LedgerEntry:
    return new_entry(
        "greedy",
        job_namespace="elsewhere",
        job_name="greedy",
        grant=GRANT,
        params=GREEDY,
        at=datetime(2026, 5, 1, tzinfo=UTC),
    )


def test_a_ledger_cache_that_lags_does_not_refuse_the_job(
    control_plane: ControlPlane,
    crds: list[str],
    policy_server: OpaServer,
    make_world: type[WorldType],
) -> None:
    world, dataset, grant, job = granted_world(control_plane, make_world, "cache-test-3")
    # The cache still holds a spent budget that the fresh state no longer has (no ledger yet).
    spent = Ledger(
        world.data_ns, "callcentre-2024", Budget(3.0, 1e-6, {GRANT: 3.0}), (greedy_entry(),)
    )
    stale = FixedCatalog([dataset], [grant], ledger=Sighting(spent))
    assert decide(control_plane, policy_server, job, stale) == (True, ())
    assert stale.ledger_asked == 1  # asked once; the denial it led to was decided again


def test_an_allowed_answer_from_a_ledger_cache_stands(
    control_plane: ControlPlane,
    crds: list[str],
    policy_server: OpaServer,
    make_world: type[WorldType],
) -> None:
    """The webhook's side of the trade: a cache with room admits at `kubectl apply`; the
    reconciler decides again from fresh reads (and reserves by compare-and-swap) before it
    creates anything."""
    world, dataset, grant, job = granted_world(control_plane, make_world, "cache-test-4")
    with closing(control_plane.api_client()) as api:
        roomy = Budget(1000.0, 1e-6, {GRANT: 1000.0})
        LedgerStore.from_api_client(api).reserve(
            world.data_ns, "callcentre-2024", greedy_entry(), roomy
        )

    allowed, codes = decide(control_plane, policy_server, job, FixedCatalog([dataset], [grant]))
    assert not allowed and codes  # the fresh ledger has no room left

    unspent = new_ledger(world.data_ns, "callcentre-2024", Budget(3.0, 1e-6, {GRANT: 3.0}))
    cached = FixedCatalog([dataset], [grant], ledger=Sighting(unspent))
    assert decide(control_plane, policy_server, job, cached) == (True, ())
    # "There was no ledger" is an answer from the cache too, not a reason to read it.
    no_ledger = FixedCatalog([dataset], [grant], ledger=Sighting(None))
    assert decide(control_plane, policy_server, job, no_ledger) == (True, ())
