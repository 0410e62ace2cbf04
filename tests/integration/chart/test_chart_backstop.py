"""The chart installed for real (`helm install`) on a control plane of this module's own, and its
backstop tried as the API server enforces it: only the operator's ServiceAccount may make the
objects the key broker and the training pods' isolation trust; nobody may debug into them.
Then the upgrade story (the certificate survives, a policy edit rolls the pods) and uninstall.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from kubernetes import client

from voxgate.devcluster import ControlPlane
from voxgate.devcluster.controlplane import UserCredentials

if TYPE_CHECKING:
    from tests.integration.chart.conftest import Helm, KubectlAs, TokenKubeconfig

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "voxgate"
VALUES = CHART / "ci" / "minimal-values.yaml"
RELEASE, NAMESPACE, TEAM = "voxgate", "voxgate-system", "research"
OPERATOR = "voxgate"  # the chart's ServiceAccount for release "voxgate"
MANAGED = {"app.kubernetes.io/managed-by": "voxgate"}
IMAGE = "registry.example.org/speech/trainer@sha256:" + "1" * 64
REFUSED_BY = "ValidatingAdmissionPolicy 'voxgate-objects-managed-by-voxgate'"


@dataclass
class Installed:
    plane: ControlPlane
    helm: Helm
    operator_kubeconfig: Path
    tmp: Path
    kubectl_as: KubectlAs

    def kubectl(
        self, *args: str, user: UserCredentials | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.plane.kubectl(*args, user=user, input=input, check=False)

    def as_operator(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.kubectl_as(self.operator_kubeconfig, *args, input=input)


def pod(name: str, labels: dict[str, str] | None = None) -> str:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": TEAM, "labels": labels or {}},
        "spec": {"containers": [{"name": "trainer", "image": IMAGE}]},
    }
    return yaml.safe_dump(body)


def job(name: str, labels: dict[str, str], template_labels: dict[str, str]) -> str:
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": TEAM, "labels": labels},
        "spec": {
            "template": {
                "metadata": {"labels": template_labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "trainer", "image": IMAGE}],
                },
            }
        },
    }
    return yaml.safe_dump(body)


@pytest.fixture(scope="module")
def installed(
    isolated_plane: ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
    helm: Helm,
    service_account_kubeconfig: TokenKubeconfig,
    kubectl_with: KubectlAs,
) -> Installed:
    plane = isolated_plane
    tmp = tmp_path_factory.mktemp("backstop")
    helm.run(
        "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace",
        "--values", str(VALUES), kubeconfig=plane.kubeconfig,
    )  # fmt: skip
    core = client.CoreV1Api(plane.api_client())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=TEAM)))
    # An ordinary researcher's rights in their namespace: make and remove pods, Jobs, ConfigMaps
    # and NetworkPolicies (as the built-in "edit" role allows).
    plane.kubectl(
        "create",
        "role",
        "developer",
        "-n",
        TEAM,
        "--verb=get,list,create,update,patch,delete",
        "--resource=pods,jobs.batch,configmaps,networkpolicies.networking.k8s.io",
    )
    plane.kubectl(
        "create", "rolebinding", "developers", "-n", TEAM, "--role=developer", "--group=devs"
    )
    # The operator never creates pods itself (the Job controller does); for the test it gets
    # that right in the team namespace, so that the backstop is what is being tried.
    plane.kubectl("create", "role", "pod-maker", "-n", TEAM, "--verb=create,get", "--resource=pods")
    plane.kubectl("create", "rolebinding", "operator-pod-maker", "-n", TEAM, "--role=pod-maker",
                  f"--serviceaccount={NAMESPACE}:{OPERATOR}")  # fmt: skip
    kubeconfig = service_account_kubeconfig(plane, NAMESPACE, OPERATOR, tmp / "operator.kubeconfig")
    # The API server loads admission policies asynchronously: wait (with server-side dry runs,
    # which leave nothing behind) until the backstop is enforced before the tests try it.
    probe = plane.user("mallory", ["devs"])
    deadline = time.monotonic() + 30
    while True:
        attempt = plane.kubectl(
            "create", "--dry-run=server", "-f", "-", user=probe, input=pod("probe", MANAGED),
            check=False,
        )  # fmt: skip
        if attempt.returncode != 0 and REFUSED_BY in attempt.stderr:
            break
        assert time.monotonic() < deadline, f"backstop never enforced: {attempt.stderr}"
        time.sleep(0.2)
    return Installed(plane, helm, kubeconfig, tmp, kubectl_with)


@pytest.fixture(scope="module")
def mallory(installed: Installed) -> UserCredentials:
    return installed.plane.user("mallory", ["devs"])


def test_the_install_created_the_backstop(installed: Installed) -> None:
    names = installed.kubectl("get", "validatingadmissionpolicies", "-o", "name").stdout.split()
    assert sorted(names) == [
        "validatingadmissionpolicy.admissionregistration.k8s.io/voxgate-cronjob-templates-of-voxgate",
        "validatingadmissionpolicy.admissionregistration.k8s.io/voxgate-objects-managed-by-voxgate",
        "validatingadmissionpolicy.admissionregistration.k8s.io/voxgate-workload-templates-of-voxgate",
    ]
    bindings = installed.kubectl("get", "validatingadmissionpolicybindings", "-o", "name")
    assert len(bindings.stdout.split()) == 3


def test_an_ordinary_user_cannot_create_a_pod_labelled_managed_by_voxgate(
    installed: Installed, mallory: UserCredentials
) -> None:
    refused = installed.kubectl("create", "-f", "-", user=mallory, input=pod("fake", MANAGED))
    assert refused.returncode != 0
    assert REFUSED_BY in refused.stderr
    assert "mallory may not" in refused.stderr


def test_the_same_user_may_create_an_unlabelled_pod(
    installed: Installed, mallory: UserCredentials
) -> None:
    created = installed.kubectl("create", "-f", "-", user=mallory, input=pod("plain"))
    assert created.returncode == 0, created.stderr


def test_the_operators_service_account_may_create_the_labelled_pod(
    installed: Installed,
) -> None:
    created = installed.as_operator("create", "-f", "-", input=pod("worker-0", MANAGED))
    assert created.returncode == 0, created.stderr
    got = installed.kubectl("get", "pod", "worker-0", "-n", TEAM, "-o", "yaml")
    assert yaml.safe_load(got.stdout)["metadata"]["labels"] == MANAGED


def test_the_job_label_alone_is_guarded_too(installed: Installed, mallory: UserCredentials) -> None:
    """The broker releases keys to a pod carrying voxgate.io/training-job: that label counts."""
    labels = {"voxgate.io/training-job": "asr-small"}
    refused = installed.kubectl("create", "-f", "-", user=mallory, input=pod("impostor", labels))
    assert REFUSED_BY in refused.stderr
    installed.kubectl("create", "-f", "-", user=mallory, input=pod("relabel"))
    relabelled = installed.kubectl(
        "label", "pod", "relabel", "-n", TEAM, "voxgate.io/training-job=asr-small", user=mallory
    )
    assert REFUSED_BY in relabelled.stderr


def test_no_workload_may_template_voxgate_pods_but_the_operators_jobs(
    installed: Installed, mallory: UserCredentials
) -> None:
    labels = {**MANAGED, "voxgate.io/training-job": "asr-small"}
    # A Job of the team's whose pods would carry the labels: the Job controller would make them.
    # (Its own label keeps the API server from copying the template's labels onto the Job.)
    sneaky = job("sneaky", {"team": "research"}, labels)
    refused = installed.kubectl("create", "-f", "-", user=mallory, input=sneaky)
    assert refused.returncode != 0
    assert "voxgate-workload-templates-of-voxgate" in refused.stderr
    created = installed.as_operator("create", "-f", "-", input=job("asr-small", labels, labels))
    assert created.returncode == 0, created.stderr


def test_nobody_may_add_an_ephemeral_container_to_a_voxgate_pod(installed: Installed) -> None:
    """Not even a cluster admin: a debug container could read the decrypted data in memory."""
    installed.as_operator("create", "-f", "-", input=pod("worker-1", MANAGED))
    debug = ["debug", "-n", TEAM, "--image", IMAGE, "--container", "peek"]
    refused = installed.kubectl(*debug, "worker-1")
    assert refused.returncode != 0
    assert "ephemeral containers cannot be added to voxgate's pods" in refused.stderr
    installed.kubectl("create", "-f", "-", input=pod("plain-admin"))
    allowed = installed.kubectl(*debug, "plain-admin")
    assert allowed.returncode == 0, allowed.stderr


def test_the_isolation_policy_and_the_ledger_cannot_be_removed_by_others(
    installed: Installed, mallory: UserCredentials
) -> None:
    isolation = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "asr-small-isolation", "namespace": TEAM, "labels": MANAGED},
        "spec": {"podSelector": {"matchLabels": {"voxgate.io/training-job": "asr-small"}},
                 "policyTypes": ["Ingress", "Egress"]},
    }  # fmt: skip
    ledger = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "voxgate-ledger-calls", "namespace": TEAM, "labels": MANAGED},
        "data": {"ledger.json": "{}"},
    }
    for obj in (isolation, ledger):
        made = installed.as_operator("apply", "--server-side", "--field-manager=voxgate",
                                     "-f", "-", input=yaml.safe_dump(obj))  # fmt: skip
        assert made.returncode == 0, made.stderr
    for kind, name in (
        ("networkpolicy", "asr-small-isolation"),
        ("configmap", "voxgate-ledger-calls"),
    ):
        deleted = installed.kubectl("delete", kind, name, "-n", TEAM, user=mallory)
        assert REFUSED_BY in deleted.stderr, deleted.stderr
        edited = installed.kubectl("label", kind, name, "-n", TEAM, "x=y", user=mallory)
        assert REFUSED_BY in edited.stderr, edited.stderr
        assert installed.kubectl("get", kind, name, "-n", TEAM).returncode == 0


def test_upgrade_keeps_the_certificate_and_a_policy_edit_rolls_the_pods(
    installed: Installed,
) -> None:
    def state() -> tuple[dict[str, str], str, str]:
        secret = yaml.safe_load(installed.kubectl(
            "get", "secret", "voxgate-tls", "-n", NAMESPACE, "-o", "yaml").stdout)  # fmt: skip
        webhooks = yaml.safe_load(
            installed.kubectl(
                "get", "validatingwebhookconfiguration", "voxgate-validating", "-o", "yaml"
            ).stdout
        )
        statefulset = yaml.safe_load(installed.kubectl(
            "get", "statefulset", "voxgate", "-n", NAMESPACE, "-o", "yaml").stdout)  # fmt: skip
        checksum = statefulset["spec"]["template"]["metadata"]["annotations"]["checksum/policies"]
        return secret["data"], webhooks["webhooks"][0]["clientConfig"]["caBundle"], checksum

    tls, bundle, checksum = state()
    assert bundle == tls["ca.crt"]
    chart = installed.tmp / "edited-chart"
    shutil.copytree(CHART, chart)
    data = chart / "files" / "policies" / "voxgate" / "config" / "data.yaml"
    data.write_text(data.read_text() + "# tightened by the compliance officer\n")
    installed.helm.run(
        "upgrade", RELEASE, str(chart), "--namespace", NAMESPACE, "--values", str(VALUES),
        kubeconfig=installed.plane.kubeconfig,
    )  # fmt: skip
    tls_after, bundle_after, checksum_after = state()
    assert tls_after == tls  # reused through lookup, not regenerated
    assert bundle_after == bundle
    assert checksum_after != checksum


def test_uninstall_removes_the_cluster_wide_objects_and_keeps_the_crds(
    installed: Installed,
) -> None:
    installed.helm.run("uninstall", RELEASE, "--namespace", NAMESPACE,
                       kubeconfig=installed.plane.kubeconfig)  # fmt: skip
    for kind in ("validatingadmissionpolicies", "validatingwebhookconfigurations",
                 "mutatingwebhookconfigurations", "clusterroles"):  # fmt: skip
        names = installed.kubectl("get", kind, "-o", "name").stdout
        assert "voxgate" not in names, names
    crds = installed.kubectl("get", "crd", "-o", "name").stdout
    assert "trainingjobs.voxgate.io" in crds
