"""Deleting a TrainingJob: no finalizer to wait on, credentials revoked, the ledger settled.

Seen by the operator, the deletion handler revokes and settles at once. Unseen (the operator
was down), the dataset's ledger sweep settles the entry and revokes the ServiceAccount when the
operator is back. These control planes run no garbage collector, so the ServiceAccount's
deletion is the operator's own doing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes.client.exceptions import ApiException

from voxgate import API_GROUP, API_VERSION
from voxgate.devcluster import ControlPlane
from voxgate.devcluster.opa import OpaServer

if TYPE_CHECKING:
    from tests.integration.operator.conftest import OperatorStarter, Waiter
    from tests.integration.operator.conftest import World as WorldType

pytestmark = pytest.mark.integration

LEDGER = "voxgate-ledger-callcentre-2024"
JOB = "jobs/admit-asr-callcentre-dp.yaml"


def ledger_entries(world: WorldType) -> dict[str, Any]:
    cm = world.core.read_namespaced_config_map(LEDGER, world.data_ns)
    entries: dict[str, Any] = json.loads((cm.data or {})["ledger.json"])["entries"]
    return entries


def account_exists(world: WorldType, name: str) -> bool:
    try:
        world.core.read_namespaced_service_account(name, world.team_ns)
    except ApiException as error:
        assert error.status == 404
        return False
    return True


def delete_job(world: WorldType, name: str) -> None:
    world.custom.delete_namespaced_custom_object(
        API_GROUP, API_VERSION, world.team_ns, "trainingjobs", name
    )


def admitted_job(world: WorldType) -> dict[str, Any]:
    world.create(world.example("datasets/callcentre-2024.yaml"))
    world.create(world.example("grants/callcentre-team-asr.yaml"))
    job = world.example(JOB)
    world.create(job)
    admitted = world.wait_for_phase(job, {"Admitted", "Denied"}, 60)
    assert admitted["status"]["phase"] == "Admitted", admitted["status"].get("message")
    return admitted


def test_a_deleted_live_job_goes_at_once_and_gives_its_reservation_back(
    world: WorldType, wait_until: Waiter
) -> None:
    job = admitted_job(world)
    name, uid = job["metadata"]["name"], job["metadata"]["uid"]
    account = job["status"]["children"]["serviceAccount"]
    assert not job["metadata"].get("finalizers")  # deleting never waits for the operator
    assert "kopf" in job["status"]  # kopf's bookkeeping rode on the status write
    annotations = job["metadata"].get("annotations", {})
    assert not [k for k in annotations if "kopf" in k or "last-handled" in k], annotations
    assert ledger_entries(world)[uid]["state"] == "Reserved"

    delete_job(world, name)
    wait_until(lambda: ledger_entries(world)[uid]["state"] == "Released", 10, "the release")
    assert not account_exists(world, account)


def test_a_job_deleted_while_the_operator_is_down_is_settled_by_the_sweep(
    isolated_plane: ControlPlane,
    policy_server: OpaServer,
    tmp_path: Path,
    make_world: type[WorldType],
    start_operator: OperatorStarter,
    wait_until: Waiter,
) -> None:
    world = make_world(isolated_plane)
    operator = start_operator(isolated_plane, policy_server, tmp_path, 0)
    isolated_plane.extra_logs.append(operator)
    try:
        job = admitted_job(world)
    finally:
        operator.stop()
    name, uid = job["metadata"]["name"], job["metadata"]["uid"]
    account = job["status"]["children"]["serviceAccount"]
    delete_job(world, name)  # gone at once: no finalizer holds it
    with pytest.raises(ApiException) as gone:
        world.get("TrainingJob", world.team_ns, name)
    assert gone.value.status == 404
    assert ledger_entries(world)[uid]["state"] == "Reserved"

    operator = start_operator(isolated_plane, policy_server, tmp_path, 1)
    isolated_plane.extra_logs.append(operator)
    try:
        wait_until(lambda: ledger_entries(world)[uid]["state"] == "Released", 30, "the sweep")
        wait_until(lambda: not account_exists(world, account), 10, "the revocation")
    finally:
        operator.stop()
    trail = isolated_plane.state_dir / "audit.jsonl"
    records = [json.loads(line) for line in trail.read_text().splitlines() if line]
    about = [r for r in records if (r.get("subject") or {}).get("uid") == uid]
    events = [r["event"] for r in about]
    assert "ledger.released" in events and "job.revoked" in events, events
    assert "credentials.revoked" in events, events
