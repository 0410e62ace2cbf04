"""values.yaml is the chart's one documented source and values.schema.json types all of it.

Every value has a comment; the schema refuses unknown keys everywhere (additionalProperties:
false), declares nothing values.yaml does not document, and accepts the defaults and every
charts/voxgate/ci/*.yaml.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

CHART = Path(__file__).resolve().parents[3] / "charts" / "voxgate"
SCHEMA: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
VALUES: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: maps merge key by key, anything else (lists too) is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def errors(values: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)
    ]


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = SCHEMA["$defs"][schema["$ref"].removeprefix("#/$defs/")]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = schema["allOf"][0]
        else:
            return schema


def object_schemas(schema: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        if "properties" in schema:
            yield where, schema
        for key, value in schema.items():
            yield from object_schemas(value, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from object_schemas(value, f"{where}/{index}")


def test_the_defaults_are_valid() -> None:
    assert errors(VALUES) == []


@pytest.mark.parametrize("path", CI_VALUES, ids=lambda p: p.stem)
def test_every_ci_values_file_is_valid(path: Path) -> None:
    assert errors(merged(VALUES, yaml.safe_load(path.read_text()))) == []


def test_every_object_in_the_schema_refuses_unknown_keys() -> None:
    found = list(object_schemas(SCHEMA))
    assert len(found) > 20
    for where, schema in found:
        assert schema.get("additionalProperties") is False, f"{where} accepts unknown keys"


def is_shared_type(schema: dict[str, Any]) -> bool:
    """A Kubernetes-shaped type from $defs (resources, affinity): not every field has a default."""
    return "$ref" in schema or any("$ref" in s for s in schema.get("allOf", []))


def test_the_schema_declares_exactly_what_values_yaml_documents() -> None:
    def walk(values: dict[str, Any], schema: dict[str, Any], where: str) -> None:
        shared = is_shared_type(schema)
        schema = resolve(schema)
        declared = set(schema.get("properties", {}))
        undeclared, undocumented = set(values) - declared, declared - set(values)
        assert not undeclared, f"{where or 'top level'}: the schema lacks {sorted(undeclared)}"
        assert shared or not undocumented, (
            f"{where or 'top level'}: values.yaml does not document {sorted(undocumented)}"
        )
        for key, value in values.items():
            child = schema["properties"][key]
            if isinstance(value, dict) and "properties" in resolve(child):
                walk(value, child, f"{where}.{key}".lstrip("."))

    walk(VALUES, SCHEMA, "")


def test_every_value_has_a_comment_right_above_it() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    missing: list[str] = []

    def walk(node: yaml.Node, schema: dict[str, Any], where: str) -> None:
        assert isinstance(node, yaml.MappingNode)
        for key_node, value_node in node.value:
            key = key_node.value
            above = lines[key_node.start_mark.line - 1].strip() if key_node.start_mark.line else ""
            if not above.startswith("#"):
                missing.append(f"{where}{key} (line {key_node.start_mark.line + 1})")
            child = resolve(resolve(schema)["properties"][key])
            if isinstance(value_node, yaml.MappingNode) and "properties" in child:
                walk(value_node, child, f"{where}{key}.")

    root = yaml.compose((CHART / "values.yaml").read_text())
    assert root is not None
    walk(root, SCHEMA, "")
    assert missing == [], f"values without a comment: {missing}"


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"replica": 3}, "replica"),
        ({"image": {"digest": "latest"}}, "image.digest"),
        ({"opa": {"image": {"digest": "sha256:abc"}}}, "opa.image.digest"),
        ({"operator": {"extraEnv": [{"name": "VOXGATE_IMAGE", "value": "x"}]}}, "extraEnv"),
        ({"webhooks": {"timeoutSeconds": 31}}, "timeoutSeconds"),
        ({"fullnameOverride": "x" * 41}, "fullnameOverride"),
        ({"networkPolicy": {"metricsFrom": [{"podSelectr": {}}]}}, "metricsFrom"),
        ({"backstop": {"trustedUsernames": ["a' || true || '"]}}, "trustedUsernames"),
        ({"certManager": {"issuerRef": {"kind": "Secret"}}}, "issuerRef.kind"),
        ({"leaderElection": {"leaseDurationSeconds": 1.5}}, "leaseDurationSeconds"),
        ({"leaderElection": {"retryPeriodSeconds": 0}}, "retryPeriodSeconds"),
        ({"leaderElection": {"leaseName": "other"}}, "leaderElection"),
        ({"operator": {"extraEnv": [{"name": "POD_NAME", "value": "x"}]}}, "extraEnv"),
        (
            {"operator": {"extraEnv": [{"name": "VOXGATE_LEADER_ELECTION", "value": "false"}]}},
            "extraEnv",
        ),
    ],
)
def test_the_schema_refuses_bad_values(override: dict[str, Any], complaint: str) -> None:
    found = errors(merged(VALUES, override))
    assert found, f"{override} was accepted"
    assert any(complaint in e for e in found), found
