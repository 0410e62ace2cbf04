"""build_children: every field OPERATOR-CONTRACT names, for the admitted call-centre job."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from voxgate.builders import Children, build_children
from voxgate.privacy.runtime import dp_environment, dp_settings_document
from voxgate.settings import OperatorSettings

if TYPE_CHECKING:
    from tests.unit.builders.conftest import Inputs

JOB = "asr-callcentre-dp"
NS = "team-asr"
LABELS = {
    "app.kubernetes.io/managed-by": "voxgate",
    "app.kubernetes.io/part-of": "voxgate",
    "app.kubernetes.io/name": "voxgate-trainer",
    "app.kubernetes.io/instance": JOB,
    "voxgate.io/training-job": JOB,
    "voxgate.io/dataset": "callcentre-2024",
}
JOB_UID = "6f1c1f5e-3b7a-4c1e-9a55-0d2f3c4b5a69"  # as conftest sets it
EPSILON = 0.5912  # as conftest charges it
OWNER = {
    "apiVersion": "voxgate.io/v1alpha1",
    "kind": "TrainingJob",
    "name": JOB,
    "uid": JOB_UID,
    "controller": True,
    "blockOwnerDeletion": True,
}


@pytest.fixture
def children(inputs: Inputs) -> Children:
    return build_children(inputs.plan())


def pod_spec(children: Children) -> dict[str, Any]:
    spec: dict[str, Any] = children.job["spec"]["template"]["spec"]
    return spec


def by_name(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    (item,) = [i for i in items if i["name"] == name]
    return item


def mounts(container: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    return {m["name"]: (m["mountPath"], m["readOnly"]) for m in container["volumeMounts"]}


def test_apply_order_kinds_names_and_metadata(children: Children) -> None:
    expected = [
        ("v1", "ServiceAccount", f"{JOB}-trainer"),
        ("v1", "ConfigMap", f"{JOB}-dp"),
        ("networking.k8s.io/v1", "NetworkPolicy", f"{JOB}-isolation"),
        ("v1", "Service", JOB),
        ("batch/v1", "Job", JOB),
    ]
    objects = children.all()
    assert [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in objects] == expected
    for obj in objects:
        assert obj["metadata"]["namespace"] == NS
        assert obj["metadata"]["labels"] == LABELS
        assert obj["metadata"]["ownerReferences"] == [OWNER]
    assert children.names.as_status() == {
        "serviceAccount": f"{JOB}-trainer",
        "networkPolicy": f"{JOB}-isolation",
        "service": JOB,
        "job": JOB,
        "configMap": f"{JOB}-dp",
    }


def test_service_account_has_no_token_and_names_the_job_uid(children: Children) -> None:
    account = children.service_account
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["annotations"] == {"voxgate.io/training-job-uid": JOB_UID}


def test_service_is_headless_and_publishes_starting_workers(children: Children) -> None:
    assert children.service["spec"] == {
        "clusterIP": "None",
        "selector": {"voxgate.io/training-job": JOB},
        "publishNotReadyAddresses": True,
    }


def test_config_map_holds_the_charged_dp_settings(inputs: Inputs, children: Children) -> None:
    assert inputs.dp_params is not None
    config_map = children.config_map
    assert set(config_map["data"]) == {"settings.json"}
    document = json.loads(config_map["data"]["settings.json"])
    assert document == dp_settings_document(inputs.dp_params, EPSILON)
    assert document["epsilon"] == EPSILON
    assert document["noiseMultiplier"] == 1.6
    assert config_map["immutable"] is True


def test_job_spec(children: Children) -> None:
    spec = children.job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 4
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == 43200
    assert "ttlSecondsAfterFinished" not in spec
    assert "selector" not in spec  # the Job controller generates it
    template = spec["template"]
    assert template["metadata"]["labels"] == LABELS


def test_pod_spec_identity_and_network(children: Children) -> None:
    pod = pod_spec(children)
    assert pod["subdomain"] == JOB
    assert pod["serviceAccountName"] == f"{JOB}-trainer"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["restartPolicy"] == "Never"
    assert not any(pod.get(k) for k in ("hostNetwork", "hostPID", "hostIPC"))


def test_pod_meets_restricted_security_fields(children: Children) -> None:
    pod = pod_spec(children)
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    containers = pod["initContainers"] + pod["containers"]
    assert [c["name"] for c in containers] == ["unseal", "trainer"]
    for container in containers:
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
        }
        assert "ports" not in container


def test_volumes(children: Children) -> None:
    volumes = pod_spec(children)["volumes"]
    assert [v["name"] for v in volumes] == [
        "sealed",
        "plaintext",
        "broker-token",
        "dp-settings",
        "tmp",
    ]
    assert by_name(volumes, "sealed")["persistentVolumeClaim"] == {
        "claimName": "callcentre-2024-sealed",
        "readOnly": True,
    }
    assert by_name(volumes, "plaintext")["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}
    assert by_name(volumes, "broker-token")["projected"] == {
        "sources": [
            {
                "serviceAccountToken": {
                    "audience": "voxgate-broker",
                    "expirationSeconds": 900,
                    "path": "token",
                }
            }
        ]
    }
    assert by_name(volumes, "dp-settings")["configMap"] == {"name": f"{JOB}-dp"}
    tmp = by_name(volumes, "tmp")["emptyDir"]
    assert tmp["medium"] == "Memory"
    assert tmp["sizeLimit"] == "256Mi"


def test_unseal_init_container(inputs: Inputs, children: Children) -> None:
    (unseal,) = pod_spec(children)["initContainers"]
    assert unseal["image"] == "registry.example.org/voxgate/voxgate@sha256:" + "0" * 64
    assert unseal["command"] == [
        "voxgate",
        "unseal",
        "--broker",
        "https://voxgate-broker.voxgate-system.svc:8443",
        "--dataset",
        "speech-data/callcentre-2024",
        "--manifest",
        "/sealed/v1/manifest.json",
        "--shards",
        "/sealed/v1",
        "--out",
        "/plaintext",
        "--token-file",
        "/var/run/secrets/voxgate/token",
        "--public-key",
        inputs.dataset["spec"]["encryption"]["signingPublicKey"],
    ]
    assert mounts(unseal) == {
        "sealed": ("/sealed", True),
        "plaintext": ("/plaintext", False),
        "broker-token": ("/var/run/secrets/voxgate", True),
        "dp-settings": ("/etc/voxgate/dp", True),
    }
    # CPU and memory of a worker (it fills the memory-backed volume), never the GPU.
    assert unseal["resources"] == {
        "requests": {"cpu": "4", "memory": "16Gi"},
        "limits": {"cpu": "4", "memory": "16Gi"},
    }


def test_trainer_container(inputs: Inputs, children: Children) -> None:
    assert inputs.dp_params is not None
    (trainer,) = pod_spec(children)["containers"]
    assert trainer["image"] == inputs.job["spec"]["image"]
    assert trainer["args"] == ["--recipe=conformer-m", "--data=/data"]
    assert "command" not in trainer
    env = {e["name"]: e["value"] for e in trainer["env"]}
    assert env == {
        **dp_environment(inputs.dp_params, EPSILON),
        "VOXGATE_DATA_DIR": "/data",
        "VOXGATE_DP_CONFIG": "/etc/voxgate/dp/settings.json",
    }
    assert env["VOXGATE_DP_EPSILON_BUDGET"] == "0.5912"
    assert [e["name"] for e in trainer["env"]] == sorted(env)
    assert trainer["resources"] == inputs.job["spec"]["resources"]
    assert mounts(trainer) == {
        "plaintext": ("/data", True),
        "dp-settings": ("/etc/voxgate/dp", True),
        "tmp": ("/tmp", False),
    }


def test_no_container_but_unseal_sees_the_broker_token(children: Children) -> None:
    pod = pod_spec(children)
    holders = [
        c["name"] for c in pod["initContainers"] + pod["containers"] if "broker-token" in mounts(c)
    ]
    assert holders == ["unseal"]
    (trainer,) = pod["containers"]
    assert not any("TOKEN" in e["name"] for e in trainer["env"])


def test_command_is_passed_when_set(inputs: Inputs) -> None:
    inputs.job["spec"]["command"] = ["python", "-m", "train"]
    (trainer,) = pod_spec(build_children(inputs.plan()))["containers"]
    assert trainer["command"] == ["python", "-m", "train"]


def test_storage_at_the_volume_root_and_another_manifest(inputs: Inputs) -> None:
    inputs.dataset["spec"]["storage"] = {"pvc": {"claimName": "sealed"}, "manifest": "m.json"}
    (unseal,) = pod_spec(build_children(inputs.plan()))["initContainers"]
    command = unseal["command"]
    assert command[command.index("--manifest") + 1] == "/sealed/m.json"
    assert command[command.index("--shards") + 1] == "/sealed"


def test_settings_flow_into_the_children(inputs: Inputs) -> None:
    inputs.settings = OperatorSettings(
        namespace="vg",
        image="r.example/vg@sha256:" + "a" * 64,
        broker_port=9443,
        plaintext_size_limit="32Gi",
    )
    children = build_children(inputs.plan())
    pod = pod_spec(children)
    (unseal,) = pod["initContainers"]
    assert unseal["image"] == "r.example/vg@sha256:" + "a" * 64
    assert "https://voxgate-broker.vg.svc:9443" in unseal["command"]
    assert by_name(pod["volumes"], "plaintext")["emptyDir"]["sizeLimit"] == "32Gi"
    broker_rule = children.network_policy["spec"]["egress"][2]
    assert broker_rule["ports"] == [{"protocol": "TCP", "port": 9443}]
    assert broker_rule["to"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "vg"}
    }


@pytest.mark.parametrize(("ttl", "expected"), [(900, 900), (14400, 14400), (600, 600), (60, 600)])
def test_token_lifetime_follows_obligations_but_not_below_the_api_minimum(
    inputs: Inputs, ttl: int, expected: int
) -> None:
    inputs.obligations = replace(inputs.obligations, credential_ttl_seconds=ttl)
    volumes = pod_spec(build_children(inputs.plan()))["volumes"]
    source = by_name(volumes, "broker-token")["projected"]["sources"][0]
    assert source["serviceAccountToken"]["expirationSeconds"] == expected


def test_job_without_resources_gets_the_tier_caps(inputs: Inputs) -> None:
    del inputs.job["spec"]["resources"]
    pod = pod_spec(build_children(inputs.plan()))
    (trainer,) = pod["containers"]
    caps = {"cpu": "16", "ephemeral-storage": "10Gi", "memory": "64Gi", "nvidia.com/gpu": "2"}
    assert trainer["resources"] == {"requests": caps, "limits": caps}
    (unseal,) = pod["initContainers"]
    assert unseal["resources"] == {
        "requests": {"cpu": "16", "memory": "64Gi"},
        "limits": {"cpu": "16", "memory": "64Gi"},
    }


def test_job_without_resources_or_caps_sets_none(inputs: Inputs) -> None:
    del inputs.job["spec"]["resources"]
    del inputs.obligations_document["maxResourcesPerWorker"]
    pod = pod_spec(build_children(inputs.plan()))
    assert "resources" not in pod["containers"][0]
    assert "resources" not in pod["initContainers"][0]


def test_job_with_only_requests_keeps_them_without_caps(inputs: Inputs) -> None:
    inputs.job["spec"]["resources"] = {"requests": {"cpu": 2, "memory": "4Gi"}}
    (trainer,) = pod_spec(build_children(inputs.plan()))["containers"]
    # Integers from YAML become quantity strings.
    assert trainer["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"}}


def test_job_without_dp_gets_no_dp_environment_and_an_empty_config_map(inputs: Inputs) -> None:
    del inputs.job["spec"]["privacy"]
    inputs.dp_params, inputs.epsilon = None, None
    inputs.obligations = replace(inputs.obligations, require_dp=False)
    children = build_children(inputs.plan())
    assert children.config_map["data"] == {}
    (trainer,) = pod_spec(children)["containers"]
    names = {e["name"] for e in trainer["env"]}
    assert names == {"VOXGATE_DATA_DIR", "VOXGATE_DP_CONFIG"}


def test_defaults_for_workers_and_deadline(inputs: Inputs) -> None:
    del inputs.job["spec"]["workers"]
    del inputs.job["spec"]["activeDeadlineSeconds"]
    spec = build_children(inputs.plan()).job["spec"]
    assert spec["completions"] == spec["parallelism"] == 1
    assert spec["activeDeadlineSeconds"] == 86400


def test_same_input_same_output_and_inputs_untouched(inputs: Inputs) -> None:
    job_before, dataset_before = copy.deepcopy(inputs.job), copy.deepcopy(inputs.dataset)
    first = build_children(inputs.plan())
    second = build_children(inputs.plan())
    assert first == second
    assert json.dumps(first.all()) == json.dumps(second.all())
    assert inputs.job == job_before
    assert inputs.dataset == dataset_before


def test_children_share_no_mutable_parts(inputs: Inputs) -> None:
    children = build_children(inputs.plan())
    children.service_account["metadata"]["labels"]["x"] = "y"
    children.job["spec"]["template"]["spec"]["containers"][0]["args"].append("--evil")
    assert "x" not in children.service["metadata"]["labels"]
    assert "x" not in children.job["spec"]["template"]["metadata"]["labels"]
    assert inputs.job["spec"]["args"] == ["--recipe=conformer-m", "--data=/data"]


def test_broker_ca_travels_in_the_jobs_config_map_to_the_unseal_step(inputs: Inputs) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    inputs.settings = OperatorSettings(broker_ca_pem=pem)
    built = build_children(inputs.plan())
    assert built.config_map["data"]["broker-ca.crt"] == pem
    (unseal,) = pod_spec(built)["initContainers"]
    assert unseal["command"][-2:] == ["--broker-ca", "/etc/voxgate/dp/broker-ca.crt"]
