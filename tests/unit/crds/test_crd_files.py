"""Static checks of the CRD files: shape, documentation and the bounds CEL needs.

These catch regressions without an API server: a field added without a description (which
`kubectl explain` would print as nothing), a string or list without a bound (which makes CEL cost
estimates explode and lets a client send megabytes), or a rule without a message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = REPO_ROOT / "crds"
CRD_FILES = sorted(CRD_DIR.glob("*.yaml"))
EXPECTED = {
    "speechdatasets.voxgate.io": ("SpeechDataset", "sds"),
    "datagrants.voxgate.io": ("DataGrant", "dg"),
    "trainingjobs.voxgate.io": ("TrainingJob", "tj"),
    "operatorheartbeats.voxgate.io": ("OperatorHeartbeat", None),
}
# The kinds people create and read; the others are the operator's own (no status, no short name).
USER_KINDS = {name for name, (_kind, short_name) in EXPECTED.items() if short_name}
USER_CRD_FILES = [p for p in CRD_FILES if p.name.removesuffix(".yaml") in USER_KINDS]
CONDITION_REASON_PATTERN = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"

Schema = dict[str, Any]


def _load(path: Path) -> dict[str, Any]:
    documents = list(yaml.safe_load_all(path.read_text()))
    assert len(documents) == 1, f"{path.name}: expected one CRD document, found {len(documents)}"
    crd = documents[0]
    assert isinstance(crd, dict)
    return crd


def _schema(crd: dict[str, Any]) -> Schema:
    (version,) = crd["spec"]["versions"]
    schema: Schema = version["schema"]["openAPIV3Schema"]
    return schema


def _walk(schema: Schema, path: str) -> Iterator[tuple[str, Schema]]:
    """Every schema node below `schema` with a readable path (root included)."""
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk(schema["additionalProperties"], f"{path}{{*}}")


def _nodes() -> Iterator[tuple[str, str, Schema]]:
    for path in CRD_FILES:
        crd = _load(path)
        for node_path, node in _walk(_schema(crd), crd["spec"]["names"]["kind"]):
            yield path.name, node_path, node


def test_there_is_one_file_per_kind() -> None:
    assert sorted(p.name for p in CRD_FILES) == sorted(f"{name}.yaml" for name in EXPECTED)


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_crd_identity_and_version(path: Path) -> None:
    crd = _load(path)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    name = crd["metadata"]["name"]
    kind, short_name = EXPECTED[name]
    spec = crd["spec"]
    assert spec["group"] == "voxgate.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == kind
    assert f"{spec['names']['plural']}.voxgate.io" == name
    assert spec["names"].get("shortNames") == ([short_name] if short_name else None)
    assert spec["names"]["categories"] == ["voxgate"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["served"] is True
    assert version["storage"] is True
    assert version.get("subresources") == ({"status": {}} if short_name else None)


@pytest.mark.parametrize("path", USER_CRD_FILES, ids=lambda p: p.name)
def test_root_spec_and_status_are_objects_with_descriptions(path: Path) -> None:
    schema = _schema(_load(path))
    assert schema["type"] == "object"
    assert schema["required"] == ["spec"]
    for part in ("spec", "status"):
        assert schema["properties"][part]["type"] == "object"
        assert len(schema["properties"][part]["description"]) > 20


def test_every_field_has_a_description() -> None:
    # The root metadata node is the one exception: the API server refuses anything in it but the
    # name and generateName constraints (its fields are documented by ObjectMeta anyway).
    missing = [
        f"{file}: {node_path}"
        for file, node_path, node in _nodes()
        if not node.get("description") and not _is_root_metadata(node_path)
    ]
    assert missing == []


def _is_root_metadata(node_path: str) -> bool:
    return node_path.count(".") == 1 and node_path.endswith(".metadata")


def test_root_metadata_only_constrains_the_name() -> None:
    for path in CRD_FILES:
        metadata = _schema(_load(path))["properties"]["metadata"]
        assert metadata.keys() == {"type", "properties"}, path.name
        assert metadata["properties"].keys() == {"name"}, path.name
        assert {"maxLength", "pattern", "description"} <= metadata["properties"]["name"].keys()


def test_every_string_is_bounded() -> None:
    unbounded = [
        f"{file}: {node_path}"
        for file, node_path, node in _nodes()
        if node.get("type") == "string" and not ({"maxLength", "enum", "format"} & node.keys())
    ]
    assert unbounded == []


def test_every_list_is_bounded() -> None:
    unbounded = [
        f"{file}: {node_path}"
        for file, node_path, node in _nodes()
        if node.get("type") == "array" and "maxItems" not in node
    ]
    assert unbounded == []


def test_every_map_is_bounded() -> None:
    unbounded = [
        f"{file}: {node_path}"
        for file, node_path, node in _nodes()
        if isinstance(node.get("additionalProperties"), dict) and "maxProperties" not in node
    ]
    assert unbounded == []


def test_only_policy_obligations_and_kopf_bookkeeping_preserve_unknown_fields() -> None:
    """Schema-free only where the content is not ours to fix: the policy's obligations, and
    kopf's handler bookkeeping in status.kopf (written only by the operator)."""
    preserving = sorted(
        f"{file}: {node_path}"
        for file, node_path, node in _nodes()
        if node.get("x-kubernetes-preserve-unknown-fields")
    )
    assert preserving == [
        "datagrants.voxgate.io.yaml: DataGrant.status.kopf",
        "speechdatasets.voxgate.io.yaml: SpeechDataset.status.kopf",
        "trainingjobs.voxgate.io.yaml: TrainingJob.status.decision.obligations",
        "trainingjobs.voxgate.io.yaml: TrainingJob.status.kopf",
    ]


def test_every_validation_rule_explains_itself() -> None:
    silent = [
        f"{file}: {node_path}: {rule['rule']}"
        for file, node_path, node in _nodes()
        for rule in node.get("x-kubernetes-validations", [])
        if not (rule.get("message") or rule.get("messageExpression"))
    ]
    assert silent == []


def test_list_types_are_declared_for_lists_of_names() -> None:
    undeclared = [
        f"{file}: {node_path}"
        for file, node_path, node in _nodes()
        if node.get("type") == "array"
        and node["items"].get("type") == "string"
        and node_path.rsplit(".", 1)[-1] in {"purposes", "institutions", "serviceAccounts"}
        and node.get("x-kubernetes-list-type") != "set"
    ]
    assert undeclared == []


def test_conditions_follow_the_api_conventions() -> None:
    conditions = [
        (file, node_path, node)
        for file, node_path, node in _nodes()
        if node_path.endswith(".status.conditions")
    ]
    assert len(conditions) == len(USER_CRD_FILES)
    for file, node_path, node in conditions:
        where = f"{file}: {node_path}"
        assert node["x-kubernetes-list-type"] == "map", where
        assert node["x-kubernetes-list-map-keys"] == ["type"], where
        item = node["items"]
        assert set(item["required"]) == {
            "type",
            "status",
            "lastTransitionTime",
            "reason",
            "message",
        }
        props = item["properties"]
        assert props["status"]["enum"] == ["True", "False", "Unknown"], where
        assert props["lastTransitionTime"]["format"] == "date-time", where
        assert props["observedGeneration"]["type"] == "integer", where
        assert props["reason"]["pattern"] == CONDITION_REASON_PATTERN, where


def _resolves(schema: Schema, json_path: str) -> bool:
    node = schema
    for part in json_path.lstrip(".").split("."):
        if part == "metadata" and node is schema:
            return True  # metadata is implicit in every CRD
        properties = node.get("properties", {})
        if part not in properties:
            return False
        node = properties[part]
    return True


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.name)
def test_printer_columns_point_at_real_fields(path: Path) -> None:
    crd = _load(path)
    (version,) = crd["spec"]["versions"]
    schema = _schema(crd)
    columns = version["additionalPrinterColumns"]
    assert columns[-1] == {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    for column in columns:
        assert _resolves(schema, column["jsonPath"]), column
    for selectable in version.get("selectableFields", []):
        assert _resolves(schema, selectable["jsonPath"]), selectable


def test_expected_printer_columns() -> None:
    columns = {
        _load(path)["spec"]["names"]["kind"]: [
            c["name"]
            for c in _load(path)["spec"]["versions"][0]["additionalPrinterColumns"]
            if not c.get("priority")
        ]
        for path in CRD_FILES
    }
    assert columns == {
        "TrainingJob": ["Phase", "Dataset", "Purpose", "Epsilon", "Reason", "Age"],
        "SpeechDataset": ["Tier", "Phase", "Epsilon-Remaining", "Grants", "Age"],
        "DataGrant": ["Dataset", "Grantee", "Phase", "Epsilon", "Expires", "Age"],
        "OperatorHeartbeat": ["Beat", "Interval", "Age"],
    }


def test_cel_rules_never_compare_timestamps_as_strings() -> None:
    # date-time fields are CEL timestamps; wrapping them in timestamp() would not compile, and
    # comparing string() forms would order them lexically.
    offending = [
        f"{file}: {node_path}: {rule['rule']}"
        for file, node_path, node in _nodes()
        for rule in node.get("x-kubernetes-validations", [])
        if "timestamp(" in rule["rule"]
    ]
    assert offending == []
