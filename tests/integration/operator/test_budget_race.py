"""50 TrainingJobs submitted at once against a budget that fits exactly k of them: exactly k are
admitted, the rest denied for budget, one ledger entry per admitted job, the composed total within
budget. Again with the operator killed (SIGKILL) twice part-way through.

A control plane of its own, so that no other operator process reconciles these objects.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from voxgate.devcluster import ControlPlane
from voxgate.devcluster.opa import OpaServer
from voxgate.privacy.accountant import composed_epsilon
from voxgate.privacy.params import DPSGDParams

if TYPE_CHECKING:
    from tests.integration.operator.conftest import OperatorStarter
    from tests.integration.operator.conftest import World as WorldType

pytestmark = pytest.mark.integration

JOBS = 50
FITS = 7
BUDGET_CODES = {"DatasetBudgetExceeded", "GrantBudgetExceeded"}


@pytest.mark.parametrize("kills", [0, 2], ids=["steady", "operator-killed-twice"])
def test_exactly_k_of_50_fit_the_budget(
    isolated_plane: ControlPlane,
    policy_server: OpaServer,
    tmp_path: Path,
    make_world: type[WorldType],
    start_operator: OperatorStarter,
    kills: int,
) -> None:
    race_plane = isolated_plane
    world = make_world(race_plane)
    dataset = world.example("datasets/callcentre-2024.yaml")
    template = world.example("jobs/admit-asr-callcentre-dp.yaml")
    template["spec"]["privacy"]["steps"] = 300
    params = DPSGDParams.from_spec(template["spec"]["privacy"])
    delta = float(dataset["spec"]["privacy"]["budget"]["delta"])
    fits, one_more = (composed_epsilon([params] * n, delta) for n in (FITS, FITS + 1))
    budget = round((fits + one_more) / 2, 6)  # exactly FITS runs compose within it
    assert fits < budget < one_more
    dataset["spec"]["privacy"]["budget"]["epsilon"] = budget
    grant = world.example("grants/callcentre-team-asr.yaml")
    grant["spec"]["privacy"]["epsilon"] = budget
    world.create(dataset)
    world.create(grant)

    operator = start_operator(race_plane, policy_server, tmp_path, 0)
    race_plane.extra_logs.append(operator)
    jobs = []
    for index in range(JOBS):
        job = copy.deepcopy(template)
        job["metadata"]["name"] = f"race-{index}"
        jobs.append(job)
    with ThreadPoolExecutor(max_workers=16) as pool:
        created = list(pool.map(world.create, jobs))
    for run in range(1, kills + 1):
        time.sleep(0.7)
        os.kill(operator.pid, signal.SIGKILL)
        operator.stop()
        operator = start_operator(race_plane, policy_server, tmp_path, run)
        race_plane.extra_logs.append(operator)
    try:
        finals = [world.wait_for_phase(job, {"Admitted", "Denied"}, timeout=120) for job in created]
    finally:
        operator.stop()

    admitted = [f for f in finals if f["status"]["phase"] == "Admitted"]
    denied = [f for f in finals if f["status"]["phase"] == "Denied"]
    messages = sorted({str(f["status"].get("message")) for f in denied})[:3]
    assert len(admitted) == FITS, f"{len(admitted)} admitted; denials like {messages}"
    for job in denied:
        codes = {d["code"] for d in job["status"]["decision"]["denials"]}
        assert codes and codes <= BUDGET_CODES, codes
    cm = world.core.read_namespaced_config_map("voxgate-ledger-callcentre-2024", world.data_ns)
    ledger: dict[str, Any] = json.loads((cm.data or {})["ledger.json"])
    live = {uid: e for uid, e in ledger["entries"].items() if e["state"] != "Released"}
    assert sorted(live) == sorted(f["metadata"]["uid"] for f in admitted)
    total = composed_epsilon([DPSGDParams.from_spec(e["privacy"]) for e in live.values()], delta)
    assert total <= budget
