"""The webhook decides from a watch-fed cache; a cache that lags must never make it refuse a job
the fresh state allows. Real API server, real OPA, no operator process."""

from __future__ import annotations

import asyncio
from contextlib import closing
from typing import TYPE_CHECKING, Any

import pytest

from voxgate.devcluster import ControlPlane
from voxgate.devcluster.opa import OpaServer
from voxgate.policy.client import PolicyClient
from voxgate.privacy.store import LedgerStore
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

    def __init__(self, datasets: list[dict[str, Any]], grants: list[dict[str, Any]] | None):
        self.datasets = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in datasets}
        self.cached_grants = grants
        self.asked = 0

    def dataset(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.asked += 1
        return self.datasets.get((namespace, name))

    def grants(self, namespace: str) -> list[dict[str, Any]] | None:
        self.asked += 1
        return self.cached_grants


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


def test_a_cache_that_missed_the_grant_does_not_refuse_the_job(
    control_plane: ControlPlane,
    crds: list[str],
    policy_server: OpaServer,
    make_world: type[WorldType],
) -> None:
    world = make_world(control_plane)
    dataset = world.create(world.example("datasets/callcentre-2024.yaml"))
    world.create(world.example("grants/callcentre-team-asr.yaml"))
    job = world.example("jobs/admit-asr-callcentre-dp.yaml")
    job["metadata"]["uid"] = "cache-test"

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
