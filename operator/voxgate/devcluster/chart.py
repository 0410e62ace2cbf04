"""The Helm chart on the local control plane: rendered with bin/helm, applied, and its identity.

There is no kubelet here, so the chart's pods never run. What can be real is everything the API
server enforces: the CRDs, the ServiceAccount and its RBAC, the ValidatingAdmissionPolicy
backstop, and the webhook configurations (pointed at a local process, see release.py). The
operator then runs as a local process that authenticates with a TokenRequest token of the
chart's ServiceAccount, so it has exactly the chart's permissions and nothing of the admin's.
Used by `voxgate dev demo` and by the chart's end-to-end tests.
"""

from __future__ import annotations

import base64
import copy
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from voxgate.devcluster.binaries import REPO_ROOT, resolve_binary
from voxgate.devcluster.controlplane import ControlPlane, ControlPlaneError

CHART_DIR = REPO_ROOT / "charts" / "voxgate"
RELEASE = "voxgate"
RELEASE_NAMESPACE = "voxgate-system"
WEBHOOK_KINDS = frozenset({"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"})
# What differs from a cluster: no storage provisioner (so no audit PVC; the local operator writes
# its trail under the state directory anyway) and nobody to pull images (the placeholder digests
# are never pulled).
LOCAL_VALUES: Mapping[str, Any] = {"audit": {"persistence": {"enabled": False}}}
FIELD_MANAGER = "helm"
TOKEN_SECONDS = 3600

Manifest = dict[str, Any]


class HelmError(ControlPlaneError):
    """bin/helm failed; the message carries its output."""


def kube_version() -> str:
    """The Kubernetes version to render for: that of the kube-apiserver binary in use."""
    out = subprocess.run(
        [str(resolve_binary("kube-apiserver")), "--version"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    # "Kubernetes v1.36.3"
    return out.split()[-1].lstrip("v")


@dataclass(frozen=True)
class Helm:
    """bin/helm with a private home (no repositories, no plugins, no user config)."""

    home: Path
    kube_version: str

    def run(
        self, *args: str, kubeconfig: Path | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        if kubeconfig is not None:
            env["KUBECONFIG"] = str(kubeconfig)
        result = subprocess.run(
            [str(resolve_binary("helm")), *args],
            capture_output=True, text=True, env=env, timeout=300, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise HelmError(
                f"helm {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def template(
        self,
        values: Path | None = None,
        *,
        chart: Path = CHART_DIR,
        namespace: str = RELEASE_NAMESPACE,
        release: str = RELEASE,
        sets: Mapping[str, str] | None = None,
        include_crds: bool = False,
    ) -> str:
        args = ["template", release, str(chart), "--namespace", namespace]
        args += ["--kube-version", self.kube_version]
        if values is not None:
            args += ["--values", str(values)]
        for key, value in (sets or {}).items():
            args += ["--set", f"{key}={value}"]
        if include_crds:
            args.append("--include-crds")
        return self.run(*args).stdout

    def manifests(self, values: Path | None = None, **kwargs: Any) -> list[Manifest]:
        return documents(self.template(values, **kwargs))


def documents(text: str) -> list[Manifest]:
    return [cast(Manifest, d) for d in yaml.safe_load_all(text) if d]


def render_local(
    helm: Helm, state_dir: Path, *, namespace: str = RELEASE_NAMESPACE
) -> list[Manifest]:
    """The chart with LOCAL_VALUES, CRDs included, as the demo installs it."""
    values = state_dir / "local-values.yaml"
    values.parent.mkdir(parents=True, exist_ok=True)
    values.write_text(yaml.safe_dump(dict(LOCAL_VALUES)))
    return helm.manifests(values, namespace=namespace, include_crds=True)


def apply_chart(
    plane: ControlPlane,
    manifests: Iterable[Manifest],
    *,
    namespace: str = RELEASE_NAMESPACE,
    leave_out: frozenset[str] = WEBHOOK_KINDS,
) -> dict[str, int]:
    """Apply the rendered chart as `helm install` would (CRDs first); returns kinds applied.

    The webhook configurations are left out by default: their Service has no endpoints here.
    """
    kept = [m for m in manifests if m["kind"] not in leave_out]
    crds = [m for m in kept if m["kind"] == "CustomResourceDefinition"]
    rest = [m for m in kept if m["kind"] != "CustomResourceDefinition"]
    if crds:
        _apply(plane, crds)
        names = [f"crd/{c['metadata']['name']}" for c in crds]
        plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    namespace_doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    _apply(plane, [namespace_doc, *rest])
    counts: dict[str, int] = {}
    for manifest in kept:
        counts[manifest["kind"]] = counts.get(manifest["kind"], 0) + 1
    return counts


def _apply(plane: ControlPlane, manifests: list[Manifest]) -> None:
    plane.kubectl(
        "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "-",
        input=yaml.safe_dump_all(manifests),
    )  # fmt: skip


def one(manifests: Iterable[Manifest], kind: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind]
    if len(found) != 1:
        raise ControlPlaneError(f"the chart rendered {len(found)} {kind} objects, expected one")
    return found[0]


def service_account(manifests: Iterable[Manifest]) -> tuple[str, str]:
    """(namespace, name) of the operator's ServiceAccount in the rendered chart."""
    meta = one(manifests, "ServiceAccount")["metadata"]
    return str(meta["namespace"]), str(meta["name"])


def service_account_username(namespace: str, name: str) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def service_account_kubeconfig(
    plane: ControlPlane, namespace: str, account: str, path: Path, seconds: int = TOKEN_SECONDS
) -> Path:
    """A kubeconfig that authenticates as a ServiceAccount with a TokenRequest token only."""
    from kubernetes import client  # noqa: PLC0415 - keeps `voxgate dev` start-up light

    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
    )
    answer = client.CoreV1Api(plane.api_client()).create_namespaced_service_account_token(
        account, namespace, request
    )
    if answer.status is None or not answer.status.token:
        raise ControlPlaneError(f"TokenRequest for {namespace}/{account} returned no token")
    ca = base64.b64encode(plane.ca_path.read_bytes()).decode()
    user = service_account_username(namespace, account)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "plane", "cluster": {"server": plane.server,
                                                   "certificate-authority-data": ca}}],
        "users": [{"name": user, "user": {"token": answer.status.token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "plane", "user": user}}],
        "current-context": "sa",
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(config))
    return path


def operator_environment(manifests: Iterable[Manifest]) -> dict[str, str]:
    """The VOXGATE_* settings the chart gives the operator container, as plain values."""
    statefulset = one(manifests, "StatefulSet")
    pod = statefulset["spec"]["template"]["spec"]
    container = next((c for c in pod["containers"] if c["name"] == "operator"), None)
    if container is None:
        raise ControlPlaneError("the chart's StatefulSet has no container named operator")
    env: dict[str, str] = {}
    for variable in container.get("env", []):
        name = str(variable["name"])
        if "value" in variable:
            env[name] = str(variable["value"])
        elif (field := variable.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")) in (
            "metadata.namespace",
            "metadata.name",
        ):
            # The pod the StatefulSet would make first: replica 0 of the release.
            meta = statefulset["metadata"]
            env[name] = str(
                meta["namespace"] if field == "metadata.namespace" else f"{meta['name']}-0"
            )
        else:
            raise ControlPlaneError(f"cannot resolve the chart's {name} outside a pod")
    return env


def webhook_configurations_at(
    manifests: Iterable[Manifest], base_url: str, ca_bundle: bytes
) -> list[Manifest]:
    """The chart's webhook configurations, calling `base_url` instead of the webhook Service.

    Everything else (rules, namespace selector, the matchCondition that exempts the operator,
    failure policy, timeouts) stays as the chart renders it.
    """
    configured = []
    for manifest in manifests:
        if manifest["kind"] not in WEBHOOK_KINDS:
            continue
        config = copy.deepcopy(manifest)
        for webhook in config.get("webhooks", []):
            path = webhook["clientConfig"]["service"].get("path", "/")
            webhook["clientConfig"] = {
                "url": base_url.rstrip("/") + path,
                "caBundle": base64.b64encode(ca_bundle).decode(),
            }
        configured.append(config)
    return configured
