"""A control plane of its own whose API server really calls the operator's admission webhooks.

The operator (`voxgate operator run`) serves the webhooks over TLS on 127.0.0.1 with a serving
certificate issued here; the Mutating/ValidatingWebhookConfigurations are registered by the test
(voxgate.admission.webhook_configurations), so every create and update of a TrainingJob or
DataGrant goes API server -> webhook -> OPA. The plane is separate from the session's shared one:
webhook configurations there would change what every other test sees.
"""

from __future__ import annotations

import copy
import os
import socket
import ssl
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes import client

from voxgate import API_GROUP, API_VERSION
from voxgate.admission import WebhookEndpoint, webhook_configurations
from voxgate.devcluster import ControlPlane, UserCredentials, pki
from voxgate.devcluster.controlplane import KubectlError
from voxgate.devcluster.opa import OpaServer
from voxgate.devcluster.processes import Component, free_port, http_ok

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
OPERATOR_NAMESPACE = "voxgate-system"
STEWARDS = "voxgate-stewards"
PLURALS = {
    "SpeechDataset": "speechdatasets",
    "DataGrant": "datagrants",
    "TrainingJob": "trainingjobs",
}
# A dataset nobody created: the validating webhook refuses a job for it before asking OPA.
PROBE_DATASET = "no-such-dataset-probe"


class WebhookCluster:
    """Control plane, OPA, the operator serving the webhooks, and configurations pointing there."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.plane = ControlPlane(state / "plane")
        self.opa = OpaServer(REPO / "policies", state / "opa")
        self.port = free_port()
        self.operator: Component | None = None
        self.ca_bundle = b""
        self.audit_path = state / "audit.jsonl"

    def start(self) -> None:
        self.plane.start()
        crd_dir = REPO / "crds"
        self.plane.kubectl("apply", "--server-side", "-f", str(crd_dir))
        self.plane.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s", "-f", str(crd_dir)
        )
        core = client.CoreV1Api(self.plane.api_client())
        core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=OPERATOR_NAMESPACE))
        )
        self.opa.start()
        self.plane.extra_logs.extend(self.opa.components)
        self._start_operator()
        self.register_webhooks()

    def stop(self) -> None:
        if self.operator is not None:
            self.operator.stop()
        self.opa.stop()
        self.plane.stop()

    def _start_operator(self) -> None:
        tls = self.state / "webhook-tls"
        ca = pki.new_ca(tls, "webhook-ca", "voxgate-test-webhook-ca")
        serving = ca.issue(tls, "webhook", "voxgate-webhook", server_names=("127.0.0.1",))
        self.ca_bundle = ca.files.cert_path.read_bytes()
        health = free_port()
        env = dict(
            os.environ,
            KUBECONFIG=str(self.plane.kubeconfig),
            VOXGATE_OPA_URL=self.opa.url,
            # A stable replica name: a restarted operator takes its own Lease back at once.
            POD_NAME="voxgate-0",
            VOXGATE_AUDIT_PATH=str(self.audit_path),
            VOXGATE_WEBHOOK_CERT_FILE=str(serving.cert_path),
            VOXGATE_WEBHOOK_KEY_FILE=str(serving.key_path),
            VOXGATE_WEBHOOK_ADDRESS="127.0.0.1",
            VOXGATE_WEBHOOK_PORT=str(self.port),
            VOXGATE_STEWARD_GROUP=STEWARDS,
        )
        self.operator = Component(
            "voxgate-operator",
            [sys.executable, "-m", "voxgate", "operator", "run", "--metrics-port=0",
             f"--liveness=http://127.0.0.1:{health}/healthz"],
            self.state / "operator.log",
        )  # fmt: skip
        self.operator.start(supervised=True, env=env)
        self.plane.extra_logs.append(self.operator)
        deadline = time.monotonic() + 60
        while not (http_ok(f"http://127.0.0.1:{health}/healthz") and self._tls_listening()):
            if self.operator.exit_code() is not None or time.monotonic() > deadline:
                pytest.fail(f"operator did not start:\n{self.operator.log_tail(80)}")
            time.sleep(0.1)

    def _tls_listening(self) -> bool:
        context = ssl.create_default_context(cadata=self.ca_bundle.decode())
        try:
            with (
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1"),
            ):
                return True
        except OSError:
            return False

    def register_webhooks(self) -> None:
        endpoint = WebhookEndpoint(self.ca_bundle, url=f"https://127.0.0.1:{self.port}")
        for config in webhook_configurations(endpoint, exclude_namespace=OPERATOR_NAMESPACE):
            self.plane.kubectl("apply", "-f", "-", input=yaml.safe_dump(config))
        # The API server picks configurations up asynchronously: wait until it calls the webhook.
        deadline = time.monotonic() + 30
        while not self.probe_refused():
            assert time.monotonic() < deadline, "the API server never called the webhook"
            time.sleep(0.2)

    def probe_refused(self) -> bool:
        """True when a server-side dry run of a job for a missing dataset is refused."""
        probe = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "TrainingJob",
            "metadata": {"name": "probe", "namespace": "default"},
            "spec": {
                "datasetRef": {"name": PROBE_DATASET},
                "purpose": "asr-training",
                "image": "registry.example.org/probe@sha256:" + "0" * 64,
            },
        }
        try:
            self.plane.kubectl("create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(probe))
        except KubectlError as error:
            return PROBE_DATASET in error.stderr
        return False


@pytest.fixture(scope="module")
def webhook_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookCluster]:
    cluster = WebhookCluster(tmp_path_factory.mktemp("webhook-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


class People:
    """Users with client certificates; RBAC lets each of them act in the world's namespaces."""

    def __init__(self, plane: ControlPlane) -> None:
        self.alice = plane.user("alice", ["team-asr"])  # researcher
        self.bob = plane.user("bob", ["team-asr"])  # another researcher
        self.carol = plane.user("carol", [STEWARDS])  # steward
        self.dan = plane.user("dan", [STEWARDS])  # steward


class World:
    """Fresh data and team namespaces, RBAC for the people, and the examples rewritten into them."""

    def __init__(self, cluster: WebhookCluster, people: People) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.plane = cluster.plane
        self.people = people
        self.data_ns, self.team_ns = f"data-{suffix}", f"team-{suffix}"
        self.api = self.plane.api_client()
        self.core = client.CoreV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        rbac = client.RbacAuthorizationV1Api(self.api)
        grants = ["datagrants"], [people.alice, people.bob, people.carol, people.dan]
        jobs = ["trainingjobs"], [people.alice, people.bob]
        for namespace, (plurals, users) in ((self.data_ns, grants), (self.team_ns, jobs)):
            self.core.create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
            )
            _grant_rbac(rbac, namespace, plurals, users)

    def example(self, relative: str, name: str | None = None) -> dict[str, Any]:
        docs = [d for d in yaml.safe_load_all((EXAMPLES / relative).read_text()) if d]
        obj = copy.deepcopy(next(d for d in docs if d["kind"] in PLURALS))
        if obj["kind"] == "TrainingJob":
            obj["metadata"]["namespace"] = self.team_ns
            obj["spec"]["datasetRef"]["namespace"] = self.data_ns
        else:
            obj["metadata"]["namespace"] = self.data_ns
        if obj["kind"] == "DataGrant":
            obj["spec"]["grantee"]["namespace"] = self.team_ns
        if name:
            obj["metadata"]["name"] = name
        return cast(dict[str, Any], obj)

    def create_as_admin(self, obj: dict[str, Any]) -> dict[str, Any]:
        created = self.custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, obj["metadata"]["namespace"], PLURALS[obj["kind"]], obj
        )
        return cast(dict[str, Any], created)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj = self.custom.get_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, PLURALS[kind], name
            )
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        return cast(dict[str, Any], obj)

    def apply(self, obj: dict[str, Any], user: UserCredentials) -> Any:
        return self.plane.kubectl(
            "apply", "-f", "-", input=yaml.safe_dump(obj), user=user, check=False
        )

    def approve(self, grant: str, user: UserCredentials, field: str = "approved") -> Any:
        return self.plane.kubectl(
            "patch", "datagrant", grant, "-n", self.data_ns, "--type=merge",
            "-p", f'{{"spec":{{"{field}":true}}}}', user=user, check=False,
        )  # fmt: skip

    def approved_grant(self, relative: str, requester: UserCredentials) -> dict[str, Any]:
        """The example grant, requested by `requester` and approved by steward carol."""
        grant = self.example(relative)
        grant["spec"]["approved"] = False
        created = self.apply(grant, requester)
        assert created.returncode == 0, created.stderr
        approved = self.approve(grant["metadata"]["name"], self.people.carol)
        assert approved.returncode == 0, approved.stderr
        stored = self.get("DataGrant", self.data_ns, grant["metadata"]["name"])
        assert stored is not None
        return stored

    def wait_for_phase(self, kind: str, name: str, phases: set[str]) -> dict[str, Any]:
        namespace = self.team_ns if kind == "TrainingJob" else self.data_ns
        deadline = time.monotonic() + 30
        current: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            current = self.get(kind, namespace, name)
            if current and (current.get("status") or {}).get("phase") in phases:
                return current
            time.sleep(0.1)
        pytest.fail(f"{kind} {name} never reached {phases}: {current and current.get('status')}")


def _grant_rbac(
    rbac: client.RbacAuthorizationV1Api,
    namespace: str,
    plurals: list[str],
    users: list[UserCredentials],
) -> None:
    rule = client.V1PolicyRule(
        api_groups=[API_GROUP],
        resources=plurals,
        verbs=["get", "list", "watch", "create", "update", "patch"],
    )
    role = client.V1Role(metadata=client.V1ObjectMeta(name="voxgate-users"), rules=[rule])
    rbac.create_namespaced_role(namespace, role)
    binding = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="voxgate-users"),
        role_ref=client.V1RoleRef(
            api_group="rbac.authorization.k8s.io", kind="Role", name="voxgate-users"
        ),
        subjects=[
            client.RbacV1Subject(
                api_group="rbac.authorization.k8s.io", kind="User", name=u.username
            )
            for u in users
        ],
    )
    rbac.create_namespaced_role_binding(namespace, binding)


@pytest.fixture(scope="module")
def people(webhook_cluster: WebhookCluster) -> People:
    return People(webhook_cluster.plane)


@pytest.fixture
def world(webhook_cluster: WebhookCluster, people: People) -> World:
    return World(webhook_cluster, people)
