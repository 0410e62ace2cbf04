"""The operator killed (SIGKILL) at several points mid-reconcile, then restarted: every job ends
with exactly one set of children and exactly one ledger entry, and nothing is charged twice.

A control plane of its own, so that no other operator process reconciles these objects.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from voxgate.devcluster import ControlPlane
from voxgate.devcluster.opa import OpaServer

if TYPE_CHECKING:
    from tests.integration.operator.conftest import OperatorStarter
    from tests.integration.operator.conftest import World as WorldType

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
JOBS = 6
# Seconds after the jobs are created at which the operator is killed, one kill each, then left
# to finish: early (mid-gather), during the policy calls, during reservations and applies.
KILL_AFTER = (0.4, 0.9, 1.5, 2.2)


def test_kills_mid_reconcile_leave_one_set_of_children_and_one_charge(
    isolated_plane: ControlPlane,
    policy_server: OpaServer,
    tmp_path: Path,
    make_world: type[WorldType],
    start_operator: OperatorStarter,
) -> None:
    world = make_world(isolated_plane)
    world.create(world.example("datasets/callcentre-2024.yaml"))
    grant = world.example("grants/callcentre-team-asr.yaml")
    world.create(grant)
    template = world.example("jobs/admit-asr-callcentre-dp.yaml")
    template["spec"]["privacy"]["steps"] = 500  # cheap enough that six fit the grant
    operator = start_operator(isolated_plane, policy_server, tmp_path, 0)
    isolated_plane.extra_logs.append(operator)
    names = []
    for index in range(JOBS):
        job = copy.deepcopy(template)
        job["metadata"]["name"] = f"restart-{index}"
        names.append(job["metadata"]["name"])
        world.create(job)
    begin = time.monotonic()
    for run, delay in enumerate(KILL_AFTER, start=1):
        time.sleep(max(0.0, begin + delay - time.monotonic()))
        os.kill(operator.pid, signal.SIGKILL)
        operator.stop()
        operator = start_operator(isolated_plane, policy_server, tmp_path, run)
        isolated_plane.extra_logs.append(operator)
    try:
        finals = [
            world.wait_for_phase(
                {"metadata": {"namespace": world.team_ns, "name": n}}, {"Admitted", "Denied"}, 60
            )
            for n in names
        ]
    finally:
        operator.stop()
    assert [f["status"]["phase"] for f in finals] == ["Admitted"] * JOBS, [
        f["status"].get("message") for f in finals
    ]
    cm = world.core.read_namespaced_config_map("voxgate-ledger-callcentre-2024", world.data_ns)
    entries: dict[str, Any] = json.loads((cm.data or {})["ledger.json"])["entries"]
    uids = sorted(f["metadata"]["uid"] for f in finals)
    assert sorted(entries) == uids  # exactly one entry per job, none for anything else
    assert {e["state"] for e in entries.values()} == {"Reserved"}
    jobs = world.batch.list_namespaced_job(world.team_ns).items
    assert sorted(str(j.metadata.name) for j in jobs if j.metadata) == sorted(names)
    accounts = world.core.list_namespaced_service_account(world.team_ns).items
    assert sorted(str(a.metadata.name) for a in accounts if a.metadata) == sorted(
        f"{n}-trainer" for n in names
    )
