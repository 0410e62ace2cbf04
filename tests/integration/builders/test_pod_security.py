"""The built children against a real kube-apiserver: Pod Security "restricted" admits the worker
pod (and refuses weakened variants of it), and the API server accepts every child by server-side
apply, owned by a real TrainingJob, and re-applying them changes nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate.builders import Children, WorkloadPlan, build_children
from voxgate.devcluster import ControlPlane
from voxgate.policy.decision import Decision, Egress, Obligations
from voxgate.privacy.params import DPSGDParams
from voxgate.settings import OperatorSettings

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GROUP, VERSION = "voxgate.io", "v1alpha1"
FIELD_MANAGER = "voxgate-builder-tests"
APPLY = "application/apply-patch+yaml"
Obj = dict[str, Any]


def load_kind(path: Path, kind: str) -> Obj:
    (document,) = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == kind]
    assert isinstance(document, dict)
    return document


def restrict(control_plane: ControlPlane, namespace: str) -> None:
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    client.CoreV1Api(control_plane.api_client()).patch_namespace(
        namespace, {"metadata": {"labels": labels}}
    )


def create_job_and_dataset(control_plane: ControlPlane, namespace: str) -> tuple[Obj, Obj]:
    """The admitted call-centre example, moved into the test's namespace, really created."""
    dataset = load_kind(EXAMPLES / "datasets" / "callcentre-2024.yaml", "SpeechDataset")
    dataset["metadata"]["namespace"] = namespace
    job = load_kind(EXAMPLES / "jobs" / "admit-asr-callcentre-dp.yaml", "TrainingJob")
    job["metadata"]["namespace"] = namespace
    job["spec"]["datasetRef"]["namespace"] = namespace
    custom = client.CustomObjectsApi(control_plane.api_client())
    created_dataset = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "speechdatasets", dataset
    )
    created_job = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "trainingjobs", job
    )
    assert isinstance(created_job, dict) and isinstance(created_dataset, dict)
    assert created_job["metadata"]["uid"]
    return created_job, created_dataset


def raw_tier_decision() -> Decision:
    document = {
        "tier": "raw",
        "requireDP": True,
        "maxEpsilon": 1.0,
        "minNoiseMultiplier": 1.0,
        "credentialTTLSeconds": 900,
        "egress": {"mode": "allowList", "endpoints": ["10.20.0.0/16:443", "mlflow.example:5000"]},
        "memoryOnlyData": True,
        "maxWorkers": 8,
        "maxResourcesPerWorker": {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "2"},
        "chargeGrant": "callcentre-team-asr",
    }
    obligations = Obligations(
        require_dp=True,
        max_epsilon=1.0,
        credential_ttl_seconds=900,
        egress=Egress("allowList", ("10.20.0.0/16:443", "mlflow.example:5000")),
        memory_only_data=True,
        max_workers=8,
    )
    return Decision(True, (), obligations, "sha256:test", "decision-1", document)


@pytest.fixture
def built(control_plane: ControlPlane, crds: list[str], namespace: str) -> tuple[Obj, Children]:
    restrict(control_plane, namespace)
    job, dataset = create_job_and_dataset(control_plane, namespace)
    plan = WorkloadPlan(
        job=job,
        dataset=dataset,
        decision=raw_tier_decision(),
        dp_params=DPSGDParams.from_spec(job["spec"]["privacy"]),
        epsilon=0.5912,
        settings=OperatorSettings(),
    )
    return job, build_children(plan)


def worker_pod(children: Children) -> Obj:
    """A Pod as the Job controller would make it from the template (index 0)."""
    template = copy.deepcopy(children.job["spec"]["template"])
    metadata = {**template["metadata"], "name": f"{children.names.job}-0"}
    metadata["namespace"] = children.job["metadata"]["namespace"]
    spec = {**template["spec"], "hostname": f"{children.names.job}-0"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def dry_run_create_pod(control_plane: ControlPlane, pod: Obj) -> Obj:
    api_client = control_plane.api_client()
    body = client.V1Pod.from_dict(pod)
    assert body is not None
    # The typed model must carry the dict unchanged, or the test would check something else.
    assert api_client.sanitize_for_serialization(body) == pod
    created = client.CoreV1Api(api_client).create_namespaced_pod(
        pod["metadata"]["namespace"], body, dry_run="All"
    )
    result = api_client.sanitize_for_serialization(created)
    assert isinstance(result, dict)
    return result


def test_worker_pod_is_admitted_by_restricted_pod_security(
    control_plane: ControlPlane, built: tuple[Obj, Children]
) -> None:
    _, children = built
    pod = worker_pod(children)
    created = dry_run_create_pod(control_plane, pod)
    assert created["metadata"]["name"] == pod["metadata"]["name"]
    assert created["spec"]["securityContext"]["runAsNonRoot"] is True
    assert [c["name"] for c in created["spec"]["initContainers"]] == ["unseal"]
    assert created["spec"]["automountServiceAccountToken"] is False
    # No token volume was injected for the trainer: only our projected broker token exists.
    projected = [v["name"] for v in created["spec"]["volumes"] if "projected" in v]
    assert projected == ["broker-token"]


def _no_run_as_non_root(pod: Obj) -> None:
    del pod["spec"]["securityContext"]["runAsNonRoot"]
    for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        del container["securityContext"]["runAsNonRoot"]


def _root_user(pod: Obj) -> None:
    # (A privileged container would be refused by validation already: --allow-privileged=false.)
    pod["spec"]["securityContext"]["runAsUser"] = 0


def _capabilities_kept(pod: Obj) -> None:
    del pod["spec"]["containers"][0]["securityContext"]["capabilities"]


def _host_network(pod: Obj) -> None:
    pod["spec"]["hostNetwork"] = True


def _escalating_unseal(pod: Obj) -> None:
    pod["spec"]["initContainers"][0]["securityContext"]["allowPrivilegeEscalation"] = True


def _capability_added(pod: Obj) -> None:
    pod["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = ["NET_RAW"]


def _no_seccomp(pod: Obj) -> None:
    del pod["spec"]["securityContext"]["seccompProfile"]


def _host_path(pod: Obj) -> None:
    pod["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/var/lib"}})


WEAKENINGS: list[Callable[[Obj], None]] = [
    _no_run_as_non_root,
    _root_user,
    _capabilities_kept,
    _host_network,
    _escalating_unseal,
    _capability_added,
    _no_seccomp,
    _host_path,
]


@pytest.mark.parametrize("weaken", WEAKENINGS, ids=[w.__name__[1:] for w in WEAKENINGS])
def test_weakened_worker_pod_is_rejected(
    control_plane: ControlPlane, built: tuple[Obj, Children], weaken: Callable[[Obj], None]
) -> None:
    _, children = built
    pod = worker_pod(children)
    weaken(pod)
    with pytest.raises(ApiException) as raised:
        dry_run_create_pod(control_plane, pod)
    message = json.loads(str(raised.value.body))["message"]
    assert raised.value.status == 403, message
    assert 'violates PodSecurity "restricted:latest"' in message, message


def server_side_apply(control_plane: ControlPlane, obj: Obj, *, dry_run: bool) -> Obj:
    api_client = control_plane.api_client()
    core = client.CoreV1Api(api_client)
    patchers: dict[str, Callable[..., object]] = {
        "ServiceAccount": core.patch_namespaced_service_account,
        "ConfigMap": core.patch_namespaced_config_map,
        "Service": core.patch_namespaced_service,
        "NetworkPolicy": client.NetworkingV1Api(api_client).patch_namespaced_network_policy,
        "Job": client.BatchV1Api(api_client).patch_namespaced_job,
    }
    applied = patchers[obj["kind"]](
        obj["metadata"]["name"],
        obj["metadata"]["namespace"],
        obj,
        field_manager=FIELD_MANAGER,
        force=True,
        field_validation="Strict",  # an unknown or misspelt field fails instead of vanishing
        dry_run="All" if dry_run else None,
        _content_type=APPLY,
    )
    result = api_client.sanitize_for_serialization(applied)
    assert isinstance(result, dict)
    return result


def test_every_child_is_accepted_by_server_side_apply(
    control_plane: ControlPlane, built: tuple[Obj, Children]
) -> None:
    job, children = built
    owner = {
        "apiVersion": "voxgate.io/v1alpha1",
        "kind": "TrainingJob",
        "name": job["metadata"]["name"],
        "uid": job["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    for obj in children.all():
        applied = server_side_apply(control_plane, obj, dry_run=True)
        assert (applied["kind"], applied["metadata"]["name"]) == (
            obj["kind"],
            obj["metadata"]["name"],
        )
        assert applied["metadata"]["ownerReferences"] == [owner]
        assert applied["metadata"]["labels"] == obj["metadata"]["labels"]
    # The API server keeps what policy cares about exactly as built.
    policy = server_side_apply(control_plane, children.network_policy, dry_run=True)
    assert policy["spec"] == children.network_policy["spec"]
    config_map = server_side_apply(control_plane, children.config_map, dry_run=True)
    assert json.loads(config_map["data"]["settings.json"])["epsilon"] == 0.5912
    applied_job = server_side_apply(control_plane, children.job, dry_run=True)
    pod_spec = applied_job["spec"]["template"]["spec"]
    assert pod_spec["volumes"][2]["projected"]["sources"][0]["serviceAccountToken"] == {
        "audience": "voxgate-broker",
        "expirationSeconds": 900,
        "path": "token",
    }
    assert applied_job["spec"]["completionMode"] == "Indexed"
    assert applied_job["spec"]["backoffLimit"] == 0


def test_children_apply_for_real_and_reapply_without_change(
    control_plane: ControlPlane, built: tuple[Obj, Children]
) -> None:
    # The reconciler re-applies on every pass; a Job's template is immutable, so a builder
    # output that fought with server-side defaulting would fail here.
    _, children = built
    first = [server_side_apply(control_plane, o, dry_run=False) for o in children.all()]
    again = [server_side_apply(control_plane, o, dry_run=False) for o in children.all()]
    for before, after in zip(first, again, strict=True):
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
