"""A real operator process (`voxgate operator run`) against the control plane and a real OPA."""

from __future__ import annotations

import copy
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, cast

import pytest
import yaml
from kubernetes import client

from voxgate import API_GROUP, API_VERSION
from voxgate.devcluster import ControlPlane, pki
from voxgate.devcluster.opa import OpaServer
from voxgate.devcluster.processes import Component, free_port, http_ok

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
PLURALS = {
    "SpeechDataset": "speechdatasets",
    "DataGrant": "datagrants",
    "TrainingJob": "trainingjobs",
}


@pytest.fixture(scope="session")
def policy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpaServer]:
    server = OpaServer(REPO / "policies", tmp_path_factory.mktemp("operator-opa"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def operator_process(
    control_plane: ControlPlane,
    crds: list[str],
    policy_server: OpaServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Component]:
    state = tmp_path_factory.mktemp("operator")
    port = free_port()
    # The operator's own namespace, where it anchors its audit trail.
    core = client.CoreV1Api(control_plane.api_client())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="voxgate-system")))
    # The key broker's serving certificate, from the plane's serving CA (so tests trust it).
    server_ca = pki.load_ca(
        pki.KeyPair(
            control_plane.pki_dir / "server-ca.crt", control_plane.pki_dir / "server-ca.key"
        )
    )
    broker_tls = server_ca.issue(state, "broker", "voxgate-broker", server_names=("127.0.0.1",))
    broker_port = free_port()
    env = dict(
        os.environ,
        KUBECONFIG=str(control_plane.kubeconfig),
        VOXGATE_OPA_URL=policy_server.url,
        # A stable replica name: a restarted operator takes its own Lease back at once.
        POD_NAME="voxgate-0",
        VOXGATE_AUDIT_PATH=str(state / "audit.jsonl"),
        VOXGATE_BROKER_CERT_FILE=str(broker_tls.cert_path),
        VOXGATE_BROKER_KEY_FILE=str(broker_tls.key_path),
        VOXGATE_BROKER_PORT=str(broker_port),
        VOXGATE_BROKER_URL=f"https://127.0.0.1:{broker_port}",
    )
    operator = Component(
        "voxgate-operator",
        [sys.executable, "-m", "voxgate", "operator", "run", "--metrics-port=0",
         f"--liveness=http://127.0.0.1:{port}/healthz"],
        state / "operator.log",
    )  # fmt: skip
    operator.start(supervised=True, env=env)
    (state / "broker-url").write_text(env["VOXGATE_BROKER_URL"])
    deadline = time.monotonic() + 60
    while not http_ok(f"http://127.0.0.1:{port}/healthz"):
        if operator.exit_code() is not None or time.monotonic() > deadline:
            pytest.fail(f"operator did not start:\n{operator.log_tail(80)}")
        time.sleep(0.1)
    control_plane.extra_logs.append(operator)
    yield operator
    control_plane.extra_logs.remove(operator)
    operator.stop()


@pytest.fixture(scope="session")
def broker_url(operator_process: Component) -> str:
    """Where the session's operator serves the key broker."""
    return (operator_process.log_path.parent / "broker-url").read_text()


class World:
    """Fresh data and team namespaces, and the examples rewritten into them."""

    def __init__(self, plane: ControlPlane) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.data_ns, self.team_ns = f"data-{suffix}", f"team-{suffix}"
        self.api = plane.api_client()
        self.core = client.CoreV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        for ns in (self.data_ns, self.team_ns):
            self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))

    def example(self, relative: str) -> dict[str, Any]:
        docs = [d for d in yaml.safe_load_all((EXAMPLES / relative).read_text()) if d]
        obj = copy.deepcopy(next(d for d in docs if d["kind"] in PLURALS))
        if obj["kind"] == "TrainingJob":
            obj["metadata"]["namespace"] = self.team_ns
            obj["spec"]["datasetRef"]["namespace"] = self.data_ns
        else:
            obj["metadata"]["namespace"] = self.data_ns
        if obj["kind"] == "DataGrant":
            obj["spec"]["grantee"]["namespace"] = self.team_ns
        return cast(dict[str, Any], obj)

    def plain(self, model: object) -> Any:
        """A client model as the plain JSON-shaped dict the API server sent."""
        return self.api.sanitize_for_serialization(model)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        created = self.custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, obj["metadata"]["namespace"], PLURALS[obj["kind"]], obj
        )
        return cast(dict[str, Any], created)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        obj = self.custom.get_namespaced_custom_object(
            API_GROUP, API_VERSION, namespace, PLURALS[kind], name
        )
        return cast(dict[str, Any], obj)

    def wait_for_phase(
        self, job: dict[str, Any], phases: set[str], timeout: float = 30
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        current: dict[str, Any] = {}
        while time.monotonic() < deadline:
            current = self.get("TrainingJob", job["metadata"]["namespace"], job["metadata"]["name"])
            if (current.get("status") or {}).get("phase") in phases:
                return current
            time.sleep(0.1)
        pytest.fail(f"TrainingJob never reached {phases}: status {current.get('status')}")


@pytest.fixture
def world(control_plane: ControlPlane, operator_process: Component) -> World:
    return World(control_plane)


@pytest.fixture
def make_world() -> type[World]:
    """The World class, for tests that bring a control plane of their own."""
    return World


def isolated_plane_for(state: Path) -> Iterator[ControlPlane]:
    """A control plane with the CRDs and the operator's namespace, for one test module."""
    plane = ControlPlane(state)
    plane.start()
    crd_dir = REPO / "crds"
    plane.kubectl("apply", "--server-side", "-f", str(crd_dir))
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(crd_dir))
    core = client.CoreV1Api(plane.api_client())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="voxgate-system")))
    yield plane
    plane.stop()


@pytest.fixture(scope="module")
def isolated_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane of the test module's own: no other operator reconciles its objects."""
    yield from isolated_plane_for(tmp_path_factory.mktemp("isolated-plane"))


class OperatorStarter(Protocol):
    def __call__(
        self,
        plane: ControlPlane,
        opa: OpaServer,
        state: Path,
        run: int,
        *,
        replica: str = "voxgate-0",
        extra_env: dict[str, str] | None = None,
        liveness_port: int | None = None,
    ) -> Component: ...


@pytest.fixture
def start_operator() -> OperatorStarter:
    return launch_operator


class Waiter(Protocol):
    def __call__(self, condition: Callable[[], object], timeout: float, what: str) -> None: ...


def _wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def wait_until() -> Waiter:
    """Poll `condition` every 0.1 s; fail the test naming `what` after `timeout` seconds."""
    return _wait_until


def launch_operator(
    plane: ControlPlane,
    opa: OpaServer,
    state: Path,
    run: int,
    *,
    replica: str = "voxgate-0",
    extra_env: dict[str, str] | None = None,
    liveness_port: int | None = None,
) -> Component:
    port = liveness_port or free_port()
    # One trail per replica and control plane: its head is anchored in that plane, and a
    # restarted operator must find the same file (or it refuses to continue, as it should).
    trail = "audit.jsonl" if replica == "voxgate-0" else f"audit-{replica}.jsonl"
    env = dict(
        os.environ,
        KUBECONFIG=str(plane.kubeconfig),
        VOXGATE_OPA_URL=opa.url,
        # A stable replica name: a restarted operator takes its own Lease back at once.
        POD_NAME=replica,
        VOXGATE_AUDIT_PATH=str(plane.state_dir / trail),
    )
    env.update(extra_env or {})
    operator = Component(
        f"voxgate-operator-{replica}-{run}",
        [sys.executable, "-m", "voxgate", "operator", "run", "--metrics-port=0",
         f"--liveness=http://127.0.0.1:{port}/healthz"],
        state / f"operator-{replica}-{run}.log",
    )  # fmt: skip
    operator.start(supervised=True, env=env)
    deadline = time.monotonic() + 60
    while not http_ok(f"http://127.0.0.1:{port}/healthz"):
        assert operator.exit_code() is None and time.monotonic() < deadline, operator.log_tail()
        time.sleep(0.05)
    return operator
