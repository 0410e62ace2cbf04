"""The rendered chart: valid against the real API server's schemas (kubeconform, offline), and
meeting hand-written checks of pod security, RBAC, labels and images (kube-score, the linter the
chart is held to, runs in test_chart_kube_score.py; kube-linter cannot be built here: the Go
module proxy refuses it, see docs/development.md), plus the contracts with the operator's code:
settings, webhook configurations, metrics, the policy bundle.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import prometheus_client
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from voxgate import metrics
from voxgate.admission.configurations import WebhookEndpoint, webhook_configurations
from voxgate.policy.revision import bundle_files, policy_revision
from voxgate.settings import ENV_PREFIX, OperatorSettings

if TYPE_CHECKING:
    from tests.integration.chart.conftest import Helm, KubeSchemas, Manifest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "voxgate"
CASES: list[Path | None] = [None, *sorted((CHART / "ci").glob("*.yaml"))]
IDS = ["default" if p is None else p.stem for p in CASES]
NAMESPACE = "voxgate-system"
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)
CLUSTER_SCOPED = {
    "ClusterRole",
    "ClusterRoleBinding",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "CustomResourceDefinition",
}
PINNED = re.compile(r"^[^@\s]+@sha256:[a-f0-9]{64}$")


def pod_templates(manifests: list[Manifest]) -> list[tuple[str, dict[str, Any]]]:
    workloads = ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet")
    return [
        (f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"])
        for m in manifests
        if m["kind"] in workloads
    ]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and name in (None, m["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def rendered(helm: Helm) -> dict[str, list[Manifest]]:
    return {ident: helm.manifests(values) for ident, values in zip(IDS, CASES, strict=True)}


# -- kubeconform ---------------------------------------------------------------------------------


@pytest.mark.parametrize("values", CASES, ids=IDS)
def test_kubeconform_strict_against_the_api_servers_schemas(
    helm: Helm, kube_schemas: KubeSchemas, values: Path | None
) -> None:
    text = helm.template(values, include_crds=True)
    count = len([d for d in yaml.safe_load_all(text) if d])
    report = kube_schemas.kubeconform(text)
    assert report["exitCode"] == 0, json.dumps(report["resources"], indent=1)
    assert report["summary"] == {"valid": count, "invalid": 0, "errors": 0, "skipped": 0}


def test_kubeconform_refuses_an_unknown_field(helm: Helm, kube_schemas: KubeSchemas) -> None:
    """The schemas really are strict: a misspelt field is an error, not silently dropped."""
    manifests = helm.manifests()
    statefulset = find(manifests, "StatefulSet")
    statefulset["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privilegd"] = 1
    report = kube_schemas.kubeconform(yaml.safe_dump(statefulset))
    assert report["summary"]["invalid"] == 1, report
    assert "privilegd" in json.dumps(report["resources"])


def test_kubeconform_checks_our_crd_schemas(kube_schemas: KubeSchemas) -> None:
    job = yaml.safe_load((REPO / "examples" / "jobs" / "admit-asr-callcentre-dp.yaml").read_text())
    assert kube_schemas.kubeconform(yaml.safe_dump(job))["summary"]["valid"] == 1
    job["spec"]["privacy"]["epsilonn"] = 1.0
    assert kube_schemas.kubeconform(yaml.safe_dump(job))["summary"]["invalid"] == 1


def test_the_chart_needs_kubernetes_1_30(helm: Helm) -> None:
    result = helm.run("template", "voxgate", str(CHART), "--kube-version", "1.29.9", check=False)
    assert result.returncode != 0
    assert "kubeVersion" in result.stderr


@pytest.mark.parametrize(
    ("sets", "complaint"),
    [
        ({"leaderElection.enabled": "false"}, "replicas > 1 needs leaderElection.enabled"),
        ({"leaderElection.renewDeadlineSeconds": "15"}, "must be less than leaseDurationSeconds"),
        ({"leaderElection.retryPeriodSeconds": "9"}, "more than 1.2 x retryPeriodSeconds"),
    ],
)
def test_the_chart_refuses_replicas_without_a_leader_and_unsafe_timing(
    helm: Helm, sets: dict[str, str], complaint: str
) -> None:
    args = ["template", "voxgate", str(CHART), "--kube-version", helm.kube_version]
    for key, value in sets.items():
        args += ["--set-json", f"{key}={value}"]
    result = helm.run(*args, check=False)
    assert result.returncode != 0
    assert complaint in result.stderr


# -- hand-written checks (kube-score: test_chart_kube_score.py) --------------------------------


@pytest.mark.parametrize("case", IDS)
def test_pods_meet_the_restricted_profile_and_have_probes_and_resources(
    rendered: dict[str, list[Manifest]], case: str
) -> None:
    templates = pod_templates(rendered[case])
    assert templates, "no pod template rendered"
    for where, pod in templates:
        spec = pod["spec"]
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host), f"{where}: {host}"
        assert not [v for v in spec.get("volumes", []) if "hostPath" in v], f"{where}: hostPath"
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, where
        assert context["seccompProfile"]["type"] == "RuntimeDefault", where
        assert spec["automountServiceAccountToken"] is False, where
        for container in containers(pod):
            name = f"{where}/{container['name']}"
            security = container["securityContext"]
            assert security.get("privileged", False) is False, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security.get("runAsNonRoot", context["runAsNonRoot"]) is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert not security["capabilities"].get("add"), name
            assert PINNED.match(container["image"]), f"{name}: {container['image']} not by digest"
            assert not [p for p in container.get("ports", []) if "hostPort" in p], name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert "memory" in resources["limits"], name
            for probe in ("livenessProbe", "readinessProbe"):
                assert probe in container, f"{name}: no {probe}"


@pytest.mark.parametrize("case", IDS)
def test_rbac_is_least_privilege(rendered: dict[str, list[Manifest]], case: str) -> None:
    roles = [m for m in rendered[case] if m["kind"] in ("ClusterRole", "Role")]
    assert {m["kind"] for m in roles} == {"ClusterRole", "Role"}
    for role in roles:
        for rule in role["rules"]:
            where = f"{role['kind']}/{role['metadata']['name']}: {rule}"
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule.get(field, []), f"wildcard in {where}"
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), where
            assert not {"pods/exec", "pods/attach", "pods/portforward"} & set(rule["resources"])
            if "secrets" in rule["resources"]:
                # Secrets only in the operator's own namespace (KEKs), and only read one by name.
                assert role["kind"] == "Role", f"a ClusterRole grants Secrets: {where}"
                assert rule["verbs"] == ["get"], where
            if "leases" in rule["resources"]:
                # Leader election: the one Lease by name in the release namespace; create cannot
                # be limited by name, so it is a rule of its own. Never delete, list or watch.
                assert role["kind"] == "Role", f"a ClusterRole grants Leases: {where}"
                assert rule["apiGroups"] == ["coordination.k8s.io"], where
                if "resourceNames" in rule:
                    assert rule["verbs"] == ["get", "update"], where
                    fullname = find(rendered[case], "StatefulSet")["metadata"]["name"]
                    assert rule["resourceNames"] == [f"{fullname}-operator"], where
                else:
                    assert rule["verbs"] == ["create"], where
            if role["kind"] == "ClusterRole":
                assert not {"list", "watch"} & set(rule["verbs"]) or rule["resources"] in (
                    ["trainingjobs", "datagrants", "speechdatasets"],
                    ["operatorheartbeats"],
                    ["customresourcedefinitions"],
                    ["jobs"],
                ), f"cluster-wide list/watch beyond what kopf watches: {where}"


@pytest.mark.parametrize("case", IDS)
def test_objects_carry_the_recommended_labels_and_fitting_names(
    rendered: dict[str, list[Manifest]], case: str
) -> None:
    for manifest in rendered[case]:
        meta = manifest["metadata"]
        where = f"{manifest['kind']}/{meta['name']}"
        assert len(meta["name"]) <= 63, where
        for label in RECOMMENDED_LABELS:
            assert meta.get("labels", {}).get(label), f"{where}: no {label}"
        if manifest["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in meta, where
        else:
            assert meta["namespace"] == NAMESPACE, where
        if manifest["kind"] == "Service":
            assert manifest["spec"].get("type", "ClusterIP") == "ClusterIP", where


# -- contracts with the operator's code ---------------------------------------------------------


def operator_container(manifests: list[Manifest]) -> dict[str, Any]:
    pod = find(manifests, "StatefulSet")["spec"]["template"]
    return next(c for c in pod["spec"]["containers"] if c["name"] == "operator")


@pytest.mark.parametrize("case", IDS)
def test_the_operator_accepts_the_settings_the_chart_gives_it(
    rendered: dict[str, list[Manifest]], case: str
) -> None:
    manifests = rendered[case]
    container = operator_container(manifests)
    env: dict[str, str] = {}
    # What the downward API gives the first replica.
    first_pod = find(manifests, "StatefulSet")["metadata"]["name"] + "-0"
    downward = {"metadata.namespace": NAMESPACE, "metadata.name": first_pod}
    for variable in container["env"]:
        if "valueFrom" in variable:
            env[variable["name"]] = downward[variable["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            env[variable["name"]] = variable["value"]
    known = {ENV_PREFIX + f.name.upper() for f in dataclasses.fields(OperatorSettings)}
    known.add("VOXGATE_AUDIT_STDOUT")  # read by voxgate.handlers.runtime
    set_by_chart = {n for n in env if n.startswith(ENV_PREFIX)}
    assert set_by_chart <= known, f"the operator reads none of {set_by_chart - known}"
    settings = OperatorSettings.from_env(env)
    assert settings.namespace == NAMESPACE
    # Each replica's identity in the Lease and the name of its audit anchor: its pod name.
    assert settings.replica == first_pod
    roles = [m for m in manifests if m["kind"] == "Role"]
    lease_rules = [r for m in roles for r in m["rules"] if "leases" in r["resources"]]
    if settings.leader_election:
        assert [settings.leader_lease_name] in [r.get("resourceNames") for r in lease_rules]
    else:
        assert lease_rules == []
        assert find(manifests, "StatefulSet")["spec"]["replicas"] == 1
    assert settings.image == container["image"]
    assert settings.webhooks_enabled
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert str(settings.webhook_cert_file).startswith(mounts["tls"] + "/")
    assert str(settings.audit_path).startswith(mounts["audit"] + "/")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert settings.webhook_port == ports["webhook"]
    assert settings.broker_port == ports["broker"]
    broker = next(
        m
        for m in manifests
        if m["kind"] == "Service"
        and m["metadata"]["labels"]["app.kubernetes.io/component"] == "broker"
    )
    host = f"{broker['metadata']['name']}.{NAMESPACE}.svc"
    assert settings.broker_url == f"https://{host}:{broker['spec']['ports'][0]['port']}"
    # Training jobs' NetworkPolicies allow egress to pods labelled app.kubernetes.io/name=voxgate.
    labels = find(manifests, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "voxgate"


def _certificate(manifests: list[Manifest]) -> tuple[x509.Certificate, x509.Certificate]:
    secret = find(manifests, "Secret")
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    # The CA's private key is used once, at render time, and never stored: nobody can mint
    # another certificate the webhooks' and the broker's clients would trust.
    assert set(data) == {"tls.crt", "tls.key", "ca.crt"}
    return x509.load_pem_x509_certificate(data["tls.crt"]), x509.load_pem_x509_certificate(
        data["ca.crt"]
    )


def test_the_generated_certificate_covers_both_services_and_chains_to_the_ca_bundle(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["default"]
    certificate, ca = _certificate(manifests)
    public_key = ca.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert certificate.signature_hash_algorithm is not None
    public_key.verify(
        certificate.signature,
        certificate.tbs_certificate_bytes,
        padding.PKCS1v15(),
        certificate.signature_hash_algorithm,
    )
    names = set(certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                .value.get_values_for_type(x509.DNSName))  # fmt: skip
    services = [m["metadata"]["name"] for m in manifests if m["kind"] == "Service"]
    for service in ("voxgate-webhook", "voxgate-broker"):
        assert service in services
        assert f"{service}.{NAMESPACE}.svc" in names
    ca_pem = ca.public_bytes(Encoding.PEM)
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for webhook in find(manifests, kind)["webhooks"]:
            assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == ca_pem


@pytest.mark.parametrize("case", ["default", "cert-manager-values"])
def test_webhook_configurations_are_the_ones_the_handlers_were_written_for(
    rendered: dict[str, list[Manifest]], case: str
) -> None:
    manifests = rendered[case]
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    endpoint = WebhookEndpoint(
        ca_bundle=pem, service_namespace=NAMESPACE, service_name="voxgate-webhook"
    )
    expected = webhook_configurations(endpoint, name="voxgate", exclude_namespace=NAMESPACE)
    operator = f"system:serviceaccount:{NAMESPACE}:voxgate"
    for want in expected:
        got = find(manifests, want["kind"], want["metadata"]["name"])
        if case == "cert-manager-values":
            annotation = got["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
            assert annotation == f"{NAMESPACE}/voxgate-tls"
        by_name = {w["name"]: w for w in got["webhooks"]}
        assert set(by_name) == {w["name"] for w in want["webhooks"]}
        for webhook in want["webhooks"]:
            rendered_webhook = dict(by_name[webhook["name"]])
            # The operator's own metadata patches (kopf progress, finalizers) skip the webhooks,
            # so a webhook outage never keeps it from finishing a deletion.
            assert rendered_webhook.pop("matchConditions") == [
                {"name": "not-the-operator",
                 "expression": f"request.userInfo.username != '{operator}'"}
            ]  # fmt: skip
            rendered_webhook["clientConfig"] = dict(rendered_webhook["clientConfig"])
            has_bundle = rendered_webhook["clientConfig"].pop("caBundle", None) is not None
            assert has_bundle == (case == "default")
            wanted = dict(webhook, clientConfig=dict(webhook["clientConfig"]))
            wanted["clientConfig"].pop("caBundle")
            assert rendered_webhook == wanted


def _sample_names() -> set[str]:
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",),
                "histogram": ("_bucket", "_sum", "_count", "_created")}  # fmt: skip
    names: set[str] = set()
    for value in vars(metrics).values():
        if isinstance(value, prometheus_client.metrics.MetricWrapperBase):
            for family in value.describe():
                names.update(family.name + s for s in suffixes[family.type])
    return names


def test_alerts_and_dashboard_use_only_metrics_the_operator_exports(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["monitoring-values"]
    rule = find(manifests, "PrometheusRule")
    expressions = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"VoxgatePolicyEngineDown", "VoxgateDecisionsFailing",
            "VoxgatePrivacyBudgetNearlySpent", "VoxgateWebhookErrors"} <= alerts  # fmt: skip
    dashboard = json.loads(
        find(manifests, "ConfigMap", "voxgate-dashboard")["data"]["voxgate.json"]
    )
    expressions += [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {n for e in expressions for n in re.findall(r"\bvoxgate_[a-z_]+", e)}
    assert used, "no voxgate metric is used"
    assert used <= _sample_names(), f"not exported by voxgate.metrics: {used - _sample_names()}"
    assert any("apiserver_admission_webhook_rejection_count" in e for e in expressions)
    monitor = find(manifests, "ServiceMonitor")
    service = find(manifests, "Service", "voxgate-metrics")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {
        p["name"] for p in service["spec"]["ports"]
    }


@pytest.mark.parametrize("case", IDS)
def test_opa_is_reachable_from_the_pod_only_and_holds_no_api_token(
    rendered: dict[str, list[Manifest]], case: str
) -> None:
    pod = find(rendered[case], "StatefulSet")["spec"]["template"]
    by_name = {c["name"]: c for c in pod["spec"]["containers"]}
    opa = by_name["opa"]
    addresses = [a for a in opa["args"] if a.startswith("--addr=")]
    assert len(addresses) == 1 and addresses[0].startswith("--addr=127.0.0.1:"), opa["args"]
    # The other listener serves only /health and /metrics (OPA's diagnostic address).
    assert any(a.startswith("--diagnostic-addr=") for a in opa["args"])
    assert [p["name"] for p in opa["ports"]] == ["opa-metrics"]
    token_mounts = {
        name
        for name, container in by_name.items()
        for mount in container["volumeMounts"]
        if mount["name"] == "kube-api-access"
    }
    assert token_mounts == {"operator"}
    assert pod["spec"]["automountServiceAccountToken"] is False


# -- the policy bundle ----------------------------------------------------------------------------


def test_the_opa_sidecar_sees_the_policy_bundle_at_its_paths(
    rendered: dict[str, list[Manifest]],
) -> None:
    manifests = rendered["default"]
    configmap = find(manifests, "ConfigMap", "voxgate-policies")
    pod = find(manifests, "StatefulSet")["spec"]["template"]
    opa = next(c for c in pod["spec"]["containers"] if c["name"] == "opa")
    assert "--bundle" in opa["args"] and "/policies" in opa["args"]
    mounted = {
        m["mountPath"].removeprefix("/policies/"): configmap["data"][m["subPath"]]
        for m in opa["volumeMounts"]
        if m["name"] == "policy-files"
    }
    source = REPO / "policies"
    expected = {p.relative_to(source).as_posix(): p.read_text() for p in bundle_files(source)}
    manifest = json.loads(mounted.pop(".manifest"))
    assert mounted == expected
    assert manifest == {"revision": policy_revision(source)}


def test_a_policy_edit_changes_the_pod_template_so_upgrade_rolls_the_pods(
    helm: Helm, tmp_path: Path
) -> None:
    chart = tmp_path / "voxgate"
    shutil.copytree(CHART, chart)

    def checksum() -> str:
        pod = find(helm.manifests(chart=chart), "StatefulSet")["spec"]["template"]
        return str(pod["metadata"]["annotations"]["checksum/policies"])

    before = checksum()
    assert checksum() == before  # stable when nothing changed
    data = chart / "files" / "policies" / "voxgate" / "config" / "data.yaml"
    data.write_text(data.read_text() + "# a compliance officer's edit\n")
    assert checksum() != before
