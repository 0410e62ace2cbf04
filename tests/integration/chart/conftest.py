"""The chart tests' harness: bin/helm and rendering (voxgate.devcluster.chart, shared with the
demo), and offline kubeconform schemas.

kubeconform validates against JSON schemas, one file per kind. There is no network here to fetch
the usual ones, and they would describe some other Kubernetes anyway; so they are generated from
the real kube-apiserver the tests run (GET /openapi/v3/<group-version> as admin, with our CRDs
and the third-party stand-ins applied) and converted to kubeconform's layout
`<dir>/v<version>-standalone-strict/<kind>-<group>-<version>.json`: self-contained (every $ref
inlined into `definitions`) and strict (objects refuse unknown fields). They are cached under
.voxgate/kubeconform-schemas/<key>/, keyed by the API server's version and the CRDs' content.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes import client

from voxgate.devcluster import ControlPlane, chart
from voxgate.devcluster.binaries import resolve_binary
from voxgate.devcluster.chart import Helm, Manifest

# Re-exported: the chart tests import them from here.
__all__ = ["Helm", "Manifest"]

REPO = Path(__file__).resolve().parents[3]
CHART = chart.CHART_DIR
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
THIRDPARTY_CRDS = Path(__file__).resolve().parent / "thirdparty-crds"
SCHEMA_CACHE = REPO / ".voxgate" / "kubeconform-schemas"
RELEASE = chart.RELEASE
RELEASE_NAMESPACE = chart.RELEASE_NAMESPACE
# Bump when the conversion below changes, so that cached schemas are regenerated.
CONVERTER_VERSION = "2"
COMPONENT_REF = "#/components/schemas/"


def values_id(path: Path | None) -> str:
    return "default" if path is None else path.stem


# Default values and every charts/voxgate/ci/*.yaml: what lint, kubeconform and the dry run cover.
VALUES_CASES: list[Path | None] = [None, *CI_VALUES]
VALUES_IDS = [values_id(p) for p in VALUES_CASES]


# -- helm: voxgate.devcluster.chart, which the demo uses too -----------------------------------


@pytest.fixture(scope="session")
def kube_version() -> str:
    """The Kubernetes version the chart is rendered for: that of bin/kube-apiserver."""
    return chart.kube_version()


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory, kube_version: str) -> Helm:
    return Helm(tmp_path_factory.mktemp("helm-home"), kube_version)


# -- third-party CRDs --------------------------------------------------------------------------


def apply_crds(plane: ControlPlane, directory: Path) -> None:
    plane.kubectl("apply", "--server-side", "--field-manager=voxgate-tests", "-f", str(directory))
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(directory))


@pytest.fixture(scope="session")
def thirdparty_crds(control_plane: ControlPlane) -> None:
    """Stand-ins for the Prometheus Operator's and cert-manager's CRDs (see their headers)."""
    apply_crds(control_plane, THIRDPARTY_CRDS)


# -- kubeconform schemas -----------------------------------------------------------------------


def kind_file_name(api_version: str, kind: str) -> str:
    """kubeconform's file name for a kind: <kind>-<first label of the group>-<version>.json."""
    group_parts = api_version.split("/")
    suffix = "-" + group_parts[0].split(".")[0].lower()
    if len(group_parts) > 1:
        suffix += "-" + group_parts[1].lower()
    return f"{kind.lower()}{suffix}.json"


def _referenced(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMPONENT_REF):
            yield ref[len(COMPONENT_REF) :]
        for value in schema.values():
            yield from _referenced(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _referenced(value)


SCHEMA_MAPS = ("properties", "patternProperties", "definitions")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
SCHEMA_VALUES = ("not", "additionalProperties", "items", "additionalItems")
# OpenAPI keywords JSON Schema draft 4 (kubeconform's default) does not have. Formats are
# dropped rather than asserted: "int-or-string" and friends are not JSON Schema formats.
DROPPED = ("format", "nullable")


def _strict(schema: Any) -> Any:
    """JSON-Schema-draft-4 form of an OpenAPI v3 schema, refusing unknown fields.

    Walks keywords, not data: a property named "format" or a default value stays as it is.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in DROPPED:
            continue
        if keyword in SCHEMA_MAPS and isinstance(value, dict):
            out[keyword] = {name: _strict(s) for name, s in value.items()}
        elif keyword in SCHEMA_LISTS and isinstance(value, list):
            out[keyword] = [_strict(s) for s in value]
        elif keyword in SCHEMA_VALUES:
            out[keyword] = (
                [_strict(s) for s in value] if isinstance(value, list) else _strict(value)
            )
        elif keyword == "$ref" and isinstance(value, str) and value.startswith(COMPONENT_REF):
            out[keyword] = "#/definitions/" + value[len(COMPONENT_REF) :]
        else:
            out[keyword] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def standalone_schema(name: str, components: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of component `name` with every component it references, transitively."""
    needed: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in needed:
            continue
        needed.add(current)
        pending.extend(_referenced(components[current]))
    root = cast(dict[str, Any], _strict(copy.deepcopy(components[name])))
    root["definitions"] = {n: _strict(components[n]) for n in sorted(needed)}
    return root


def convert_openapi(documents_by_gv: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{"apps/v1": openapi v3 document, ...} -> {kubeconform file name: JSON schema}."""
    files: dict[str, dict[str, Any]] = {}
    owners: dict[str, str] = {}
    for group_version, document in sorted(documents_by_gv.items()):
        components = document.get("components", {}).get("schemas", {})
        for name, schema in components.items():
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                # Shared types (DeleteOptions, WatchEvent) list every group; keep own kinds only.
                if api_version != group_version:
                    continue
                file_name = kind_file_name(api_version, gvk["kind"])
                owner = f"{api_version} {gvk['kind']}"
                if owners.setdefault(file_name, owner) != owner:
                    raise ValueError(f"{owner} and {owners[file_name]} both map to {file_name}")
                files[file_name] = standalone_schema(name, components)
    return files


def crd_kinds(*directories: Path) -> set[str]:
    """kubeconform file names of every kind the CRDs in `directories` define."""
    names = set()
    for directory in directories:
        for path in sorted(directory.glob("*.yaml")):
            for crd in yaml.safe_load_all(path.read_text()):
                if crd:
                    spec = crd["spec"]
                    for version in spec["versions"]:
                        api_version = f"{spec['group']}/{version['name']}"
                        names.add(kind_file_name(api_version, spec["names"]["kind"]))
    return names


def fetch_openapi(plane: ControlPlane) -> dict[str, dict[str, Any]]:
    index = json.loads(plane.kubectl("get", "--raw", "/openapi/v3").stdout)
    fetched: dict[str, dict[str, Any]] = {}
    for path in index["paths"]:
        # api/v1 and apis/<group>/<version>; not discovery documents or the /version endpoint.
        parts = path.split("/")
        if parts[0] == "api" and len(parts) == 2:
            group_version = parts[1]
        elif parts[0] == "apis" and len(parts) == 3:
            group_version = f"{parts[1]}/{parts[2]}"
        else:
            continue
        text = plane.kubectl("get", "--raw", f"/openapi/v3/{path}", timeout=120).stdout
        fetched[group_version] = json.loads(text)
    return fetched


def generate_schemas(plane: ControlPlane, expected: set[str]) -> dict[str, dict[str, Any]]:
    """Convert the API server's OpenAPI, once it publishes every CRD's kind (the API server
    adds a new CRD to /openapi/v3 a moment after the CRD is Established)."""
    deadline = time.monotonic() + 60
    while True:
        files = convert_openapi(fetch_openapi(plane))
        missing = expected - set(files)
        if not missing:
            return files
        if time.monotonic() > deadline:
            pytest.fail(f"the API server's OpenAPI never described {sorted(missing)}")
        time.sleep(0.5)


def _cache_key(kube_version: str) -> str:
    digest = hashlib.sha256(f"{CONVERTER_VERSION}\n{kube_version}\n".encode())
    for directory in (REPO / "crds", THIRDPARTY_CRDS):
        for path in sorted(directory.glob("*.yaml")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class KubeSchemas:
    """Generated schemas and how to run kubeconform against them, offline."""

    root: Path
    kube_version: str

    @property
    def location(self) -> str:
        return str(
            self.root
            / "{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}"
            / "{{ .ResourceKind }}{{ .KindSuffix }}.json"
        )

    def kubeconform(self, manifests: str) -> dict[str, Any]:
        """Validate strictly; no schema location but ours, and no kind may go unvalidated."""
        result = subprocess.run(
            [str(resolve_binary("kubeconform")), "-strict", "-summary", "-output", "json",
             "-kubernetes-version", self.kube_version, "-schema-location", self.location, "-"],
            input=manifests, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        try:
            report = cast(dict[str, Any], json.loads(result.stdout))
        except json.JSONDecodeError:
            pytest.fail(f"kubeconform gave no JSON (exit {result.returncode}): {result.stderr}")
        report["exitCode"] = result.returncode
        return report


@pytest.fixture(scope="session")
def kube_schemas(
    control_plane: ControlPlane, crds: list[str], thirdparty_crds: None, kube_version: str
) -> KubeSchemas:
    root = SCHEMA_CACHE / _cache_key(kube_version)
    target = root / f"v{kube_version}-standalone-strict"
    expected = {"pod-v1.json", *crd_kinds(REPO / "crds", THIRDPARTY_CRDS)}
    if not all((target / name).exists() for name in expected):
        files = generate_schemas(control_plane, expected)
        SCHEMA_CACHE.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="staging-", dir=SCHEMA_CACHE))
        try:
            out = staging / target.name
            out.mkdir()
            for name, schema in files.items():
                (out / name).write_text(json.dumps(schema, sort_keys=True))
            shutil.rmtree(target, ignore_errors=True)
            root.mkdir(exist_ok=True)
            out.rename(target)  # a half-written cache is never used
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return KubeSchemas(root, kube_version)


# -- objects and identities --------------------------------------------------------------------


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [m for m in of_kind(manifests, kind) if name is None or m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def fresh_namespace(plane: ControlPlane, prefix: str = "chart") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(plane.api_client()).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    )
    return name


def token_kubeconfig(plane: ControlPlane, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as a ServiceAccount, with a TokenRequest token."""
    return chart.service_account_kubeconfig(plane, namespace, account, path)


@pytest.fixture(scope="module")
def isolated_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane of the test module's own, with the CRDs: what a module installs for
    real (admission policies, webhook configurations) cannot reach any other test."""
    plane = ControlPlane(tmp_path_factory.mktemp("chart-plane"))
    plane.start()
    try:
        apply_crds(plane, REPO / "crds")
        yield plane
    finally:
        plane.stop()


TokenKubeconfig = Callable[[ControlPlane, str, str, Path], Path]


@pytest.fixture(scope="session")
def service_account_kubeconfig() -> TokenKubeconfig:
    return token_kubeconfig


def kubectl_as(
    kubeconfig: Path, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """bin/kubectl with any kubeconfig (ControlPlane.kubectl takes client-certificate users)."""
    return subprocess.run(
        [str(resolve_binary("kubectl")), f"--kubeconfig={kubeconfig}", *args],
        input=input, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


KubectlAs = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def kubectl_with() -> KubectlAs:
    return kubectl_as
