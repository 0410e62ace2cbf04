"""Two operator replicas at once: one leads and reconciles, the other stands by serving its
front (health, broker); a leader that dies is replaced within the lease duration, one that stops
cleanly hands over at once, and nothing is ever created or charged twice.

A control plane of its own, and short Lease timings so the hand-overs are quick.
"""

from __future__ import annotations

import copy
import json
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate.devcluster import ControlPlane
from voxgate.devcluster.opa import OpaServer

if TYPE_CHECKING:
    from tests.integration.operator.conftest import OperatorStarter, Waiter
    from tests.integration.operator.conftest import World as WorldType

pytestmark = pytest.mark.integration

FAST_LEASE = {
    "VOXGATE_LEADER_LEASE_DURATION_SECONDS": "4",
    "VOXGATE_LEADER_RENEW_DEADLINE_SECONDS": "3",
    "VOXGATE_LEADER_RETRY_PERIOD_SECONDS": "0.5",
}


def holder(plane: ControlPlane) -> str:
    try:
        lease = client.CoordinationV1Api(plane.api_client()).read_namespaced_lease(
            "voxgate-operator", "voxgate-system"
        )
    except ApiException as error:
        assert error.status == 404
        return ""
    assert lease.spec is not None
    return lease.spec.holder_identity or ""


def decided_by(plane: ControlPlane, replica: str) -> set[str]:
    """Names of the jobs this replica's reconciler decided (its own audit trail)."""
    name = "audit.jsonl" if replica == "voxgate-0" else f"audit-{replica}.jsonl"
    trail = plane.state_dir / name
    if not trail.exists():
        return set()
    records = [json.loads(line) for line in trail.read_text().splitlines() if line]
    return {
        r["subject"]["name"]
        for r in records
        if r["event"] in ("decision.allowed", "decision.denied")
        and r["details"].get("source") != "webhook"
    }


def test_one_leader_reconciles_and_a_standby_takes_over(
    isolated_plane: ControlPlane,
    policy_server: OpaServer,
    tmp_path: Path,
    make_world: type[WorldType],
    start_operator: OperatorStarter,
    wait_until: Waiter,
) -> None:
    plane = isolated_plane
    world = make_world(plane)
    world.create(world.example("datasets/callcentre-2024.yaml"))
    world.create(world.example("grants/callcentre-team-asr.yaml"))
    template = world.example("jobs/admit-asr-callcentre-dp.yaml")
    template["spec"]["privacy"]["steps"] = 500  # cheap enough that several fit the grant

    def job(name: str) -> dict[str, Any]:
        created = copy.deepcopy(template)
        created["metadata"]["name"] = name
        world.create(created)
        return created

    first = start_operator(plane, policy_server, tmp_path, 0, replica="voxgate-0",
                           extra_env=FAST_LEASE)  # fmt: skip
    plane.extra_logs.append(first)
    wait_until(lambda: holder(plane) == "voxgate-0", 20, "voxgate-0 to lead")
    second = start_operator(plane, policy_server, tmp_path, 0, replica="voxgate-1",
                            extra_env=FAST_LEASE)  # fmt: skip
    plane.extra_logs.append(second)
    try:
        admitted = world.wait_for_phase(job("ha-a"), {"Admitted", "Denied"}, 60)
        assert admitted["status"]["phase"] == "Admitted", admitted["status"].get("message")
        assert "ha-a" in decided_by(plane, "voxgate-0")
        assert not decided_by(plane, "voxgate-1")  # the standby reconciled nothing

        # The leader dies without a word: the standby takes over once the lease has expired.
        os.kill(first.pid, signal.SIGKILL)
        first.stop()
        wait_until(lambda: holder(plane) == "voxgate-1", 30, "voxgate-1 to take over")
        admitted = world.wait_for_phase(job("ha-b"), {"Admitted", "Denied"}, 60)
        assert admitted["status"]["phase"] == "Admitted", admitted["status"].get("message")
        assert "ha-b" in decided_by(plane, "voxgate-1")

        # A replica back as standby; the leader stops cleanly and hands over without waiting.
        first = start_operator(plane, policy_server, tmp_path, 1, replica="voxgate-0",
                               extra_env=FAST_LEASE)  # fmt: skip
        plane.extra_logs.append(first)
        assert holder(plane) == "voxgate-1"
        second.stop()  # SIGTERM: reconcilers stop, the Lease is released
        assert second.exit_code() == 0, second.log_tail()
        wait_until(lambda: holder(plane) == "voxgate-0", 10, "voxgate-0 to lead again")
        admitted = world.wait_for_phase(job("ha-c"), {"Admitted", "Denied"}, 60)
        assert admitted["status"]["phase"] == "Admitted", admitted["status"].get("message")
    finally:
        first.stop()
        second.stop()

    # Each job was decided by exactly one replica, has one set of children and one ledger entry.
    deciders = [decided_by(plane, r) for r in ("voxgate-0", "voxgate-1")]
    for name in ("ha-a", "ha-b", "ha-c"):
        assert sum(name in d for d in deciders) == 1, (name, deciders)
    cm = world.core.read_namespaced_config_map("voxgate-ledger-callcentre-2024", world.data_ns)
    entries: dict[str, Any] = json.loads((cm.data or {})["ledger.json"])["entries"]
    assert sorted(e["job"]["name"] for e in entries.values()) == ["ha-a", "ha-b", "ha-c"]
    jobs = world.batch.list_namespaced_job(world.team_ns).items
    assert sorted(str(j.metadata.name) for j in jobs if j.metadata) == ["ha-a", "ha-b", "ha-c"]
