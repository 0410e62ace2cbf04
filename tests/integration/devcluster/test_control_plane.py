"""The harness itself, against the real processes it starts."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate.devcluster import ControlPlane
from voxgate.devcluster.processes import pid_runs

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]


def _pinned_kubernetes_version() -> str:
    go_mod = (REPO_ROOT / "hack/tools/kubernetes/go.mod").read_text()
    return next(
        line.split()[1]
        for line in go_mod.splitlines()
        if line.strip().startswith("k8s.io/kubernetes v")
    )


def test_api_server_reports_the_pinned_version(control_plane: ControlPlane) -> None:
    version = client.VersionApi(control_plane.api_client()).get_code()
    assert version.git_version == _pinned_kubernetes_version()


def test_rbac_is_enforced_for_other_users(control_plane: ControlPlane, namespace: str) -> None:
    alice = control_plane.user("alice", ["researchers"])
    core = client.CoreV1Api(control_plane.api_client(alice))
    with pytest.raises(ApiException) as denied:
        core.list_namespaced_config_map(namespace)
    assert denied.value.status == 403
    message = json.loads(denied.value.body or "{}")["message"]
    assert 'User "alice" cannot list resource "configmaps"' in message

    rbac = client.RbacAuthorizationV1Api(control_plane.api_client())
    # A plain Role: the aggregated `view` ClusterRole is empty without the controller manager.
    rbac.create_namespaced_role(
        namespace,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="configmap-reader"),
            rules=[client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["list"])],
        ),
    )
    rbac.create_namespaced_role_binding(
        namespace,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="researchers-read"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="Role", name="configmap-reader"
            ),
            subjects=[
                client.RbacV1Subject(
                    kind="Group", name="researchers", api_group="rbac.authorization.k8s.io"
                )
            ],
        ),
    )
    # RBAC changes reach the authorizer through an informer: allow a moment.
    deadline = time.monotonic() + 10
    while True:
        try:
            assert core.list_namespaced_config_map(namespace).items is not None
            break
        except ApiException as error:
            if error.status != 403 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_user_identity_is_what_the_certificate_says(control_plane: ControlPlane) -> None:
    bob = control_plane.user("bob@example.org", ["stewards", "clinic-a"])
    review = client.AuthenticationV1Api(control_plane.api_client(bob)).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    assert review.status is not None and review.status.user_info is not None
    assert review.status.user_info.username == "bob@example.org"
    groups = set(review.status.user_info.groups or [])
    assert {"stewards", "clinic-a", "system:authenticated"} <= groups


def test_audience_bound_service_account_tokens_are_issued_and_reviewed(
    control_plane: ControlPlane, namespace: str
) -> None:
    api = control_plane.api_client()
    core = client.CoreV1Api(api)
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="trainer"))
    )
    issued = core.create_namespaced_service_account_token(
        "trainer",
        namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=["voxgate-broker"], expiration_seconds=600)
        ),
    )
    assert issued.status is not None and issued.status.token
    token: str = issued.status.token
    auth = client.AuthenticationV1Api(api)

    def review(audience: str) -> client.V1TokenReviewStatus:
        body = client.V1TokenReview(
            spec=client.V1TokenReviewSpec(token=token, audiences=[audience])
        )
        status = auth.create_token_review(body).status
        assert status is not None
        return status

    accepted = review("voxgate-broker")
    assert accepted.authenticated is True
    assert accepted.user is not None
    assert accepted.user.username == f"system:serviceaccount:{namespace}:trainer"
    assert accepted.audiences == ["voxgate-broker"]
    assert review("some-other-service").authenticated is not True

    core.delete_namespaced_service_account("trainer", namespace)
    deadline = time.monotonic() + 10
    while review("voxgate-broker").authenticated and time.monotonic() < deadline:
        time.sleep(0.1)
    assert review("voxgate-broker").authenticated is not True


def test_components_die_with_a_killed_test_process(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys, time
        from pathlib import Path
        from voxgate.devcluster import ControlPlane
        plane = ControlPlane(Path({str(tmp_path / "plane")!r}))
        plane.start()
        print(json.dumps([[c.pid, c.argv[0]] for c in plane.components]), flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        pids = json.loads(child.stdout.readline())
        assert pids and all(pid_runs(pid, binary) for pid, binary in pids)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    deadline = time.monotonic() + 10
    while any(pid_runs(pid, binary) for pid, binary in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_runs(pid, binary) for pid, binary in pids)


def _voxgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voxgate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_dev_up_env_down_with_controller_manager_running_a_job(tmp_path: Path) -> None:
    state = tmp_path / "dev"
    up = _voxgate("dev", "--state-dir", str(state), "up", "--controller-manager")
    assert up.returncode == 0, up.stderr
    try:
        assert up.stdout.strip() == f"export KUBECONFIG={state.resolve() / 'kubeconfig'}"
        assert "control plane ready at https://127.0.0.1:" in up.stderr
        env = _voxgate("dev", "--state-dir", str(state), "env")
        assert env.stdout == up.stdout

        plane = ControlPlane.attach(state.resolve())
        assert plane.running()
        again = _voxgate("dev", "--state-dir", str(state), "up")
        assert "already running" in again.stderr

        # The job controller turns a Job into Pods; the service-account controller made `default`.
        plane.kubectl(
            "create", "job", "hello", "--image=registry.example.org/hello@sha256:" + "a" * 64
        )
        deadline = time.monotonic() + 30
        pods = ""
        while time.monotonic() < deadline:
            pods = plane.kubectl("get", "pods", "-l", "job-name=hello", "-o", "name").stdout
            if pods.strip():
                break
            time.sleep(0.2)
        assert pods.startswith("pod/hello-")
    finally:
        down = _voxgate("dev", "--state-dir", str(state), "down")
    assert down.returncode == 0
    assert not any(pid_runs(c.pid, c.argv[0]) for c in plane.components)
    assert not (state / "state.json").exists()
    env_after = _voxgate("dev", "--state-dir", str(state), "env")
    assert env_after.returncode == 2
    assert env_after.stderr.count("\n") == 1 and "voxgate dev up" in env_after.stderr
