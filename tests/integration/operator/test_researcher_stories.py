"""The researcher's stories end to end: a real operator, API server and OPA."""

from __future__ import annotations

import datetime
import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate.audit import verify_file

if TYPE_CHECKING:  # the fixtures' types; the fixtures themselves come from conftest.py
    from tests.integration.operator.conftest import World

    from voxgate.devcluster.processes import Component

pytestmark = pytest.mark.integration

ADMIT = "jobs/admit-asr-callcentre-dp.yaml"


def _setup(world: World, job_file: str = ADMIT) -> dict[str, Any]:
    world.create(world.example("datasets/callcentre-2024.yaml"))
    world.create(world.example("grants/callcentre-team-asr.yaml"))
    return world.create(world.example(job_file))


def _ledger(world: World, dataset: str) -> dict[str, Any]:
    cm = world.core.read_namespaced_config_map(f"voxgate-ledger-{dataset}", world.data_ns)
    ledger: dict[str, Any] = json.loads((cm.data or {})["ledger.json"])
    return ledger


def _entry_states(world: World, dataset: str) -> list[str]:
    return [e["state"] for e in _ledger(world, dataset)["entries"].values()]


def _exists(read: Any, *args: str) -> bool:
    try:
        read(*args)
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def _set_job_status(world: World, name: str, status: dict[str, Any]) -> None:
    world.batch.patch_namespaced_job_status(name, world.team_ns, {"status": status})


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_admitted_job_gets_locked_down_children_and_succeeds(world: World) -> None:
    job = _setup(world)
    name, uid = job["metadata"]["name"], job["metadata"]["uid"]
    admitted = world.wait_for_phase(job, {"Admitted"})
    status = admitted["status"]
    assert status["decision"]["allowed"] is True
    assert status["decision"]["grant"] == "callcentre-team-asr"
    assert status["privacy"]["charged"] is True and status["privacy"]["epsilon"] > 0
    assert {c["type"]: c["status"] for c in status["conditions"]}["Admitted"] == "True"
    assert all(c["observedGeneration"] == 1 for c in status["conditions"])

    plain = world.plain
    sa = plain(world.core.read_namespaced_service_account(f"{name}-trainer", world.team_ns))
    assert sa["automountServiceAccountToken"] is False
    policy = plain(
        client.NetworkingV1Api(world.api).read_namespaced_network_policy(
            f"{name}-isolation", world.team_ns
        )
    )["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["podSelector"]["matchLabels"] == {"voxgate.io/training-job": name}
    batch_job = plain(world.batch.read_namespaced_job(name, world.team_ns))["spec"]
    assert batch_job["completionMode"] == "Indexed"
    assert batch_job["backoffLimit"] == 0
    pod = batch_job["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    trainer = next(c for c in pod["containers"] if c["name"] == "trainer")
    assert trainer["securityContext"]["readOnlyRootFilesystem"] is True
    assert trainer["securityContext"]["capabilities"]["drop"] == ["ALL"]
    data_mount = next(m for m in trainer["volumeMounts"] if m["mountPath"] == "/data")
    assert data_mount["readOnly"] is True
    env = {e["name"]: e.get("value") for e in trainer["env"]}
    assert env["VOXGATE_DP_NOISE_MULTIPLIER"]
    plaintext = next(v for v in pod["volumes"] if v["name"] == "plaintext")
    assert plaintext["emptyDir"]["medium"] == "Memory"
    for read, child in (
        (world.core.read_namespaced_service_account, f"{name}-trainer"),
        (world.core.read_namespaced_config_map, f"{name}-dp"),
        (world.core.read_namespaced_service, name),
        (world.batch.read_namespaced_job, name),
    ):
        owners = plain(read(child, world.team_ns))["metadata"]["ownerReferences"]
        assert [(o["kind"], o["uid"], o["controller"]) for o in owners] == [
            ("TrainingJob", uid, True)
        ]
    assert _entry_states(world, "callcentre-2024") == ["Reserved"]

    workers = int(job["spec"].get("workers", 1))
    _set_job_status(world, name, {"startTime": _now(), "active": workers})
    world.wait_for_phase(job, {"Running"})
    assert _entry_states(world, "callcentre-2024") == ["Charged"]
    _set_job_status(
        world,
        name,
        {
            "active": 0,
            "succeeded": workers,
            "completionTime": _now(),
            "conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": _now()},
                {"type": "Complete", "status": "True", "lastTransitionTime": _now()},
            ],
        },
    )
    done = world.wait_for_phase(job, {"Succeeded"})
    assert {c["type"]: c["status"] for c in done["status"]["conditions"]}["Succeeded"] == "True"
    assert not _exists(world.core.read_namespaced_service_account, f"{name}-trainer", world.team_ns)
    assert _entry_states(world, "callcentre-2024") == ["Settled"]


def test_denied_job_gets_every_reason_no_children_and_a_warning(
    world: World, operator_process: Component
) -> None:
    job = _setup(world, "jobs/deny-two-reasons.yaml")
    name = job["metadata"]["name"]
    denied = world.wait_for_phase(job, {"Denied"})
    codes = [d["code"] for d in denied["status"]["decision"]["denials"]]
    assert codes == ["DPRequired", "RegistryNotApproved"]
    assert denied["status"]["reason"] == "DPRequired"
    admitted = next(c for c in denied["status"]["conditions"] if c["type"] == "Admitted")
    assert admitted["status"] == "False" and admitted["reason"] == "DPRequired"
    assert not _exists(world.core.read_namespaced_service_account, f"{name}-trainer", world.team_ns)
    assert not _exists(world.batch.read_namespaced_job, name, world.team_ns)
    events = world.api.sanitize_for_serialization(
        client.EventsV1Api(world.api).list_namespaced_event(world.team_ns)
    )["items"]
    warnings = [e for e in events if e["regarding"]["name"] == name and e["type"] == "Warning"]
    assert warnings and "DPRequired" in warnings[0]["note"]
    trail = operator_process.log_path.parent / "audit.jsonl"
    verified = verify_file(trail)
    assert verified.intact, verified.problem
    records = [json.loads(line) for line in trail.read_text().splitlines()]
    mine = [r for r in records if r["subject"]["name"] == name and r["event"] == "decision.denied"]
    assert mine and mine[0]["details"]["codes"] == ["DPRequired", "RegistryNotApproved"]
    # Both RFC 3339 UTC with microseconds, so they compare as text: decided, then recorded.
    assert mine[0]["details"]["decidedAt"] <= mine[0]["time"]


def test_revoking_the_grant_stops_the_running_job_within_5s(world: World) -> None:
    job = _setup(world)
    name = job["metadata"]["name"]
    world.wait_for_phase(job, {"Admitted"})
    _set_job_status(world, name, {"startTime": _now(), "active": 1})
    world.wait_for_phase(job, {"Running"})
    world.custom.patch_namespaced_custom_object(
        "voxgate.io", "v1alpha1", world.data_ns, "datagrants", "callcentre-team-asr",
        {"spec": {"revoked": True}},
    )  # fmt: skip
    begin = time.monotonic()
    revoked = world.wait_for_phase(job, {"Revoked"}, timeout=5)
    assert time.monotonic() - begin <= 5
    assert revoked["status"]["reason"] == "GrantRevoked"
    assert not _exists(world.core.read_namespaced_service_account, f"{name}-trainer", world.team_ns)
    deadline = time.monotonic() + 5
    while (
        _exists(world.batch.read_namespaced_job, name, world.team_ns)
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert not _exists(world.batch.read_namespaced_job, name, world.team_ns)
    assert _entry_states(world, "callcentre-2024") == ["Settled"]
