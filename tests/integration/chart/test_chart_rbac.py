"""The chart's RBAC is enough, and no more: the real operator runs under the chart's
ServiceAccount (a TokenRequest token, nothing else) with the chart's ClusterRole, Role and
backstop applied, takes a TrainingJob from admission to success and revokes its credentials;
and `kubectl auth can-i` shows what that identity may not do.

A control plane of this module's own: the backstop is installed for real. The chart is applied
and its pod run as local processes (OPA and the operator, with the chart's settings) by
voxgate.devcluster.chart and .release, the same code `voxgate dev demo` uses. The webhook
configurations are left out (the demo registers them; the webhooks are tested in
tests/integration/webhooks/).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from voxgate.devcluster import ControlPlane
from voxgate.devcluster.chart import apply_chart, service_account_kubeconfig
from voxgate.devcluster.processes import http_json
from voxgate.devcluster.release import LocalRelease
from voxgate.leadership import LeaderElector, LeaseStore
from voxgate.policy.revision import policy_revision
from voxgate.settings import OperatorSettings

if TYPE_CHECKING:
    from tests.integration.chart.conftest import Helm, Manifest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "voxgate"
NAMESPACE, ACCOUNT = "voxgate-system", "voxgate"
OPERATOR = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
DATA, TEAM = "speech-data", "asr-team"
PLURALS = {
    "SpeechDataset": "speechdatasets",
    "DataGrant": "datagrants",
    "TrainingJob": "trainingjobs",
}


def example(relative: str) -> dict[str, Any]:
    docs = yaml.safe_load_all((REPO / "examples" / relative).read_text())
    obj = copy.deepcopy(next(d for d in docs if d and d["kind"] in PLURALS))
    if obj["kind"] == "TrainingJob":
        obj["metadata"]["namespace"] = TEAM
        obj["spec"]["datasetRef"]["namespace"] = DATA
    else:
        obj["metadata"]["namespace"] = DATA
    if obj["kind"] == "DataGrant":
        obj["spec"]["grantee"]["namespace"] = TEAM
    return cast(dict[str, Any], obj)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def chart_rbac(isolated_plane: ControlPlane, helm: Helm) -> tuple[ControlPlane, list[Manifest]]:
    """The rendered chart (minimal values) applied for real, but for the webhook configs."""
    plane = isolated_plane
    core = client.CoreV1Api(plane.api_client())
    for name in (DATA, TEAM):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    manifests = helm.manifests(CHART / "ci" / "minimal-values.yaml", namespace=NAMESPACE)
    apply_chart(plane, manifests, namespace=NAMESPACE)
    return plane, manifests


@pytest.fixture(scope="module")
def operator(
    chart_rbac: tuple[ControlPlane, list[Manifest]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalRelease]:
    """OPA and the operator as the chart's pod would run them, as the chart's ServiceAccount."""
    plane, manifests = chart_rbac
    release = LocalRelease(plane, manifests, tmp_path_factory.mktemp("operator-as-chart-sa"))
    try:
        release.start()
        plane.extra_logs.extend(release.components)
        assert release.username == OPERATOR
        yield release
    finally:
        release.stop()


def wait_for(what: str, probe: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_the_operator_runs_a_job_end_to_end_under_the_charts_rbac(
    chart_rbac: tuple[ControlPlane, list[Manifest]], operator: LocalRelease
) -> None:
    plane = chart_rbac[0]
    api = plane.api_client()
    custom, core, batch = (
        client.CustomObjectsApi(api),
        client.CoreV1Api(api),
        client.BatchV1Api(api),
    )

    def create(obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        return cast(dict[str, Any], custom.create_namespaced_custom_object(
            "voxgate.io", "v1alpha1", meta["namespace"], PLURALS[obj["kind"]], obj))  # fmt: skip

    def phase(name: str) -> tuple[str | None, dict[str, Any]]:
        job = cast(dict[str, Any], custom.get_namespaced_custom_object(
            "voxgate.io", "v1alpha1", TEAM, "trainingjobs", name))  # fmt: skip
        return (job.get("status") or {}).get("phase"), job

    create(example("datasets/callcentre-2024.yaml"))
    create(example("grants/callcentre-team-asr.yaml"))
    job = create(example("jobs/admit-asr-callcentre-dp.yaml"))
    name = job["metadata"]["name"]
    settled = ("Admitted", "Denied")
    got, admitted = wait_for("a decision", lambda: (p := phase(name))[0] in settled and p)
    assert got == "Admitted", admitted["status"]
    assert admitted["status"]["decision"]["policyRevision"] == policy_revision(REPO / "policies")

    # Every child was made by the operator's ServiceAccount, through the backstop.
    core.read_namespaced_service_account(f"{name}-trainer", TEAM)
    core.read_namespaced_config_map(f"{name}-dp", TEAM)
    core.read_namespaced_service(name, TEAM)
    client.NetworkingV1Api(api).read_namespaced_network_policy(f"{name}-isolation", TEAM)

    def plain(model: object) -> Any:
        return api.sanitize_for_serialization(model)

    template = plain(batch.read_namespaced_job(name, TEAM))["spec"]["template"]
    assert template["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "voxgate"
    ledger = plain(core.read_namespaced_config_map("voxgate-ledger-callcentre-2024", DATA))
    assert list(json.loads(ledger["data"]["ledger.json"])["entries"]) == [job["metadata"]["uid"]]

    # The Job runs and succeeds: charged, settled, and the job's credentials revoked.
    batch.patch_namespaced_job_status(name, TEAM, {"status": {"startTime": now(), "active": 1}})
    wait_for("Running", lambda: phase(name)[0] == "Running")
    done = {"active": 0, "succeeded": 1, "completionTime": now(), "conditions": [
        {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now()},
        {"type": "Complete", "status": "True", "lastTransitionTime": now()}]}  # fmt: skip
    batch.patch_namespaced_job_status(name, TEAM, {"status": done})
    wait_for("Succeeded", lambda: phase(name)[0] == "Succeeded")

    def account_gone() -> bool:
        try:
            core.read_namespaced_service_account(f"{name}-trainer", TEAM)
        except ApiException as error:
            return bool(error.status == 404)
        return False

    wait_for("the job's ServiceAccount to be deleted", account_gone)
    # The audit anchor, in the operator's namespace (the Role), through the backstop.
    anchor = wait_for(
        "the audit anchor",
        lambda: [
            c
            for c in plain(core.list_namespaced_config_map(NAMESPACE))["items"]
            if c["metadata"]["name"] == "voxgate-audit-anchor-voxgate-0"  # replica 0's
        ],
        timeout=30,
    )[0]
    assert int(anchor["data"]["seq"]) >= 1

    # The replica's heartbeat, written in the operator's namespace (the Role), comes back
    # through kopf's cluster-wide watches (the ClusterRole): the liveness probe says so.
    # kopf keeps a probe's answer for 10 s, so the first may predate the reconcilers.
    def watches() -> dict[str, float]:
        answer: dict[str, float] = (http_json(operator.health_url)[1] or {}).get("watches", {})
        return answer if set(answer) == {"front", "reconcilers"} else {}

    assert max(wait_for("both operators' heartbeats", watches, timeout=30).values()) < 60
    log = operator.log_path.read_text()
    for sign in ("Forbidden", " 403", "Not enough permissions"):
        assert sign not in log, log[-4000:]


CAN = [
    ("watch", "trainingjobs.voxgate.io", None),
    ("patch", "trainingjobs.voxgate.io/status", TEAM),
    ("create", "tokenreviews.authentication.k8s.io", None),
    ("get", "pods", TEAM),
    ("get", "secrets", NAMESPACE),
    ("update", "configmaps", DATA),
    ("create", "jobs.batch", TEAM),
    ("delete", "serviceaccounts", TEAM),
    ("create", "events.events.k8s.io", TEAM),
    ("watch", "operatorheartbeats.voxgate.io", None),
    ("patch", "operatorheartbeats.voxgate.io", NAMESPACE),
]
CANNOT = [
    ("get", "secrets", DATA),  # KEKs are read only in the operator's namespace
    ("list", "secrets", NAMESPACE),
    ("create", "secrets", NAMESPACE),
    ("create", "pods", TEAM),  # the Job controller makes pods, not the operator
    ("create", "pods/exec", TEAM),
    ("create", "pods/ephemeralcontainers", TEAM),
    ("delete", "configmaps", DATA),  # ledgers are never deleted
    ("list", "configmaps", DATA),
    ("update", "trainingjobs.voxgate.io", TEAM),
    ("delete", "trainingjobs.voxgate.io", TEAM),
    ("create", "serviceaccounts/token", TEAM),
    ("create", "rolebindings.rbac.authorization.k8s.io", TEAM),
    ("list", "namespaces", None),
    ("create", "customresourcedefinitions.apiextensions.k8s.io", None),
    ("patch", "validatingwebhookconfigurations.admissionregistration.k8s.io", None),
    ("delete", "validatingadmissionpolicybindings.admissionregistration.k8s.io", None),
    ("get", "nodes", None),
    ("patch", "operatorheartbeats.voxgate.io", TEAM),  # heartbeats live in its own namespace
    ("delete", "operatorheartbeats.voxgate.io", NAMESPACE),
]


LEASE = "voxgate-operator"  # the chart's Lease for release voxgate
LEASES = [
    # (verb, resource name or None, namespace, allowed)
    ("get", LEASE, NAMESPACE, True),
    ("update", LEASE, NAMESPACE, True),
    ("create", None, NAMESPACE, True),  # create cannot be limited by name
    ("get", "kube-controller-manager", NAMESPACE, False),
    ("update", "some-other-operator", NAMESPACE, False),
    ("delete", LEASE, NAMESPACE, False),
    ("patch", LEASE, NAMESPACE, False),
    ("list", None, NAMESPACE, False),
    ("watch", None, NAMESPACE, False),
    ("create", None, TEAM, False),
    ("update", LEASE, TEAM, False),
    ("update", "kube-scheduler", "kube-system", False),
]


@pytest.mark.parametrize(("verb", "name", "namespace", "allowed"), LEASES)
def test_leader_election_may_touch_only_its_own_lease(
    chart_rbac: tuple[ControlPlane, list[Manifest]],
    verb: str,
    name: str | None,
    namespace: str,
    allowed: bool,
) -> None:
    resource = "leases.coordination.k8s.io" + (f"/{name}" if name else "")
    result = chart_rbac[0].kubectl(
        "auth", "can-i", verb, resource, "-n", namespace, f"--as={OPERATOR}", check=False
    )
    assert result.stdout.strip() == ("yes" if allowed else "no"), (
        f"{verb} {resource} in {namespace}: {result.stdout.strip()} {result.stderr}"
    )


async def test_the_elector_runs_under_the_charts_rbac(
    chart_rbac: tuple[ControlPlane, list[Manifest]], tmp_path: Path
) -> None:
    """Acquire, renew and release the chart's Lease as the operator's ServiceAccount."""
    plane = chart_rbac[0]
    kubeconfig = service_account_kubeconfig(plane, NAMESPACE, ACCOUNT, tmp_path / "sa")
    api = config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
    settings = OperatorSettings.from_env(
        {
            "VOXGATE_NAMESPACE": NAMESPACE,
            "VOXGATE_LEADER_LEASE_NAME": LEASE,
            "VOXGATE_LEADER_RETRY_PERIOD_SECONDS": "0.2",
            "POD_NAME": "voxgate-0",
        }
    )
    elector = LeaderElector.from_settings(api, settings)
    await asyncio.wait_for(elector.acquire(), 30)
    assert await elector.renew_once() is True
    assert await elector.release() is True
    assert not elector.lost.is_set()
    lease = LeaseStore(plane.api_client(), NAMESPACE, LEASE).read()
    assert lease is not None and lease.holder == ""


@pytest.mark.parametrize(("verb", "resource", "namespace"), CAN + CANNOT)
def test_what_the_operators_identity_may_and_may_not_do(
    chart_rbac: tuple[ControlPlane, list[Manifest]], verb: str, resource: str, namespace: str | None
) -> None:
    where = ["-n", namespace] if namespace else ["--all-namespaces"]
    # kubectl reads TYPE/NAME, so a subresource goes in its own flag.
    kind, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    result = chart_rbac[0].kubectl(
        "auth", "can-i", verb, kind, *extra, *where, f"--as={OPERATOR}", check=False
    )
    answer = result.stdout.strip()
    assert answer == ("yes" if (verb, resource, namespace) in CAN else "no"), (
        f"{verb} {resource} in {namespace or 'all namespaces'}: {answer} {result.stderr}"
    )
