"""The worker pod template: Pod Security "restricted", plaintext only in memory, one short-lived
credential that only the unseal step ever sees.

Data path: the `sealed` claim (ciphertext, read-only) -> init container `unseal`, which presents
the projected broker token, gets the data key and writes verified plaintext into the
memory-backed `plaintext` volume -> container `trainer`, which reads it read-only and has no token.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from voxgate.builders.names import BROKER_TOKEN_AUDIENCE
from voxgate.builders.plan import WorkloadPlan
from voxgate.builders.resources import unseal_resources
from voxgate.privacy.runtime import DEFAULT_CONFIG_PATH, ENV_CONFIG_PATH, dp_environment

# The nonroot user of distroless-style images; any non-zero UID meets "restricted".
RUN_AS_ID = 65532
# The API server refuses projected tokens that live shorter than this (TokenRequest minimum).
# A shorter obligation is still honoured: the broker releases keys only while the job is live
# (status.credentialsExpireAt), and the ServiceAccount is deleted when the job ends.
MIN_TOKEN_EXPIRATION_SECONDS = 600
TMP_SIZE_LIMIT = "256Mi"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"

SEALED_VOLUME = "sealed"
PLAINTEXT_VOLUME = "plaintext"
TOKEN_VOLUME = "broker-token"  # noqa: S105 - a volume name, not a secret
DP_VOLUME = "dp-settings"
TMP_VOLUME = "tmp"

SEALED_DIR = "/sealed"
UNSEAL_OUT_DIR = "/plaintext"
DATA_DIR = "/data"
TOKEN_DIR = "/var/run/secrets/voxgate"  # noqa: S105 - a mount path
TOKEN_FILE = "token"  # noqa: S105 - a file name
DP_DIR = str(DEFAULT_CONFIG_PATH.parent)
# The broker's CA travels in the job's ConfigMap next to the DP settings.
BROKER_CA_FILE_NAME = "broker-ca.crt"
TMP_DIR = "/tmp"  # noqa: S108 - a mount point inside the pod, backed by its own emptyDir
ENV_DATA_DIR = "VOXGATE_DATA_DIR"


def token_expiration_seconds(credential_ttl_seconds: int) -> int:
    return max(credential_ttl_seconds, MIN_TOKEN_EXPIRATION_SECONDS)


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
    }


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_ID,
        "runAsGroup": RUN_AS_ID,
        "fsGroup": RUN_AS_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def volumes(plan: WorkloadPlan) -> list[dict[str, Any]]:
    ttl = plan.decision.obligations.credential_ttl_seconds
    return [
        {
            "name": SEALED_VOLUME,
            "persistentVolumeClaim": {"claimName": plan.claim_name, "readOnly": True},
        },
        {
            "name": PLAINTEXT_VOLUME,
            # Memory-backed: decrypted speech never reaches a node's disk.
            "emptyDir": {"medium": "Memory", "sizeLimit": plan.settings.plaintext_size_limit},
        },
        {
            "name": TOKEN_VOLUME,
            "projected": {
                "sources": [
                    {
                        "serviceAccountToken": {
                            "audience": BROKER_TOKEN_AUDIENCE,
                            "expirationSeconds": token_expiration_seconds(ttl),
                            "path": TOKEN_FILE,
                        }
                    }
                ]
            },
        },
        {"name": DP_VOLUME, "configMap": {"name": plan.names.config_map}},
        {"name": TMP_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": TMP_SIZE_LIMIT}},
    ]


def _mount(volume: str, path: str, *, read_only: bool) -> dict[str, Any]:
    return {"name": volume, "mountPath": path, "readOnly": read_only}


def unseal_command(plan: WorkloadPlan) -> list[str]:
    shards = posixpath.normpath(posixpath.join(SEALED_DIR, plan.storage_path.lstrip("/")))
    return [
        "voxgate",
        "unseal",
        "--broker",
        plan.settings.broker_url,
        "--dataset",
        f"{plan.dataset_namespace}/{plan.dataset_name}",
        "--manifest",
        posixpath.join(shards, plan.manifest),
        "--shards",
        shards,
        "--out",
        UNSEAL_OUT_DIR,
        "--token-file",
        posixpath.join(TOKEN_DIR, TOKEN_FILE),
        # The key the steward declared: a manifest signed by anyone else is refused.
        "--public-key",
        str(plan.dataset["spec"]["encryption"]["signingPublicKey"]),
    ] + (
        ["--broker-ca", posixpath.join(DP_DIR, BROKER_CA_FILE_NAME)]
        if plan.settings.broker_ca_pem
        else []
    )


def unseal_container(plan: WorkloadPlan, worker: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "unseal",
        "image": plan.settings.image,
        "command": unseal_command(plan),
        "securityContext": container_security_context(),
        "volumeMounts": [
            _mount(SEALED_VOLUME, SEALED_DIR, read_only=True),
            _mount(PLAINTEXT_VOLUME, UNSEAL_OUT_DIR, read_only=False),
            _mount(TOKEN_VOLUME, TOKEN_DIR, read_only=True),
            _mount(DP_VOLUME, DP_DIR, read_only=True),
        ],
    }
    if resources := unseal_resources(worker):
        container["resources"] = resources
    return container


def trainer_environment(plan: WorkloadPlan) -> list[dict[str, str]]:
    environment = {ENV_DATA_DIR: DATA_DIR, ENV_CONFIG_PATH: str(DEFAULT_CONFIG_PATH)}
    if plan.dp_params is not None and plan.epsilon is not None:
        environment.update(dp_environment(plan.dp_params, plan.epsilon))
    return [{"name": name, "value": environment[name]} for name in sorted(environment)]


def trainer_container(
    plan: WorkloadPlan, worker: Mapping[str, Mapping[str, str]]
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "trainer", "image": plan.image}
    if (command := plan.command) is not None:
        container["command"] = command
    if (args := plan.args) is not None:
        container["args"] = args
    container["env"] = trainer_environment(plan)
    if worker:
        container["resources"] = {kind: dict(q) for kind, q in worker.items()}
    container["securityContext"] = container_security_context()
    # No broker-token mount: the trainer runs researcher code and never holds a credential.
    container["volumeMounts"] = [
        _mount(PLAINTEXT_VOLUME, DATA_DIR, read_only=True),
        _mount(DP_VOLUME, DP_DIR, read_only=True),
        _mount(TMP_VOLUME, TMP_DIR, read_only=False),
    ]
    return container


def pod_template(plan: WorkloadPlan) -> dict[str, Any]:
    worker = plan.resources
    return {
        "metadata": {
            "labels": plan.labels,
            "annotations": {DEFAULT_CONTAINER_ANNOTATION: "trainer"},
        },
        "spec": {
            # A restarted worker would train (and spend privacy budget) again.
            "restartPolicy": "Never",
            # With the headless Service of the same name, worker i is <job>-<i>.<job>.
            "subdomain": plan.names.service,
            "serviceAccountName": plan.names.service_account,
            # The token automount would give researcher code API credentials; the projected
            # broker token below is the only one, and only the init container mounts it.
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security_context(),
            "initContainers": [unseal_container(plan, worker)],
            "containers": [trainer_container(plan, worker)],
            "volumes": volumes(plan),
        },
    }
