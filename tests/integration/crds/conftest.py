"""Fixtures for the CRD tests: the example namespaces, a client, and valid base objects.

The base objects are taken from examples/ on purpose: the table-driven tests change one thing in
an object a user would really write, so a rejection is caused by that one change.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate.devcluster import ControlPlane

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = REPO_ROOT / "examples"
GROUP, VERSION = "voxgate.io", "v1alpha1"
PLURALS = {
    "SpeechDataset": "speechdatasets",
    "DataGrant": "datagrants",
    "TrainingJob": "trainingjobs",
}
BASE_FILES = {
    "SpeechDataset": EXAMPLES / "datasets" / "callcentre-2024-anon.yaml",
    "DataGrant": EXAMPLES / "grants" / "anon-team-asr.yaml",
    "TrainingJob": EXAMPLES / "jobs" / "admit-asr-callcentre-dp.yaml",
}

Obj = dict[str, Any]


def load_documents(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _base(kind: str) -> Obj:
    (obj,) = [d for d in load_documents(BASE_FILES[kind]) if d["kind"] == kind]
    return obj


_BASES = {kind: _base(kind) for kind in PLURALS}


@pytest.fixture
def base() -> Callable[[str], Obj]:
    """A fresh deep copy of the valid example object of `kind`."""
    return lambda kind: copy.deepcopy(_BASES[kind])


@pytest.fixture(scope="session")
def example_namespaces(control_plane: ControlPlane, crds: list[str]) -> list[str]:
    """The namespaces from examples/namespaces.yaml, created for real (dry runs need them)."""
    path = EXAMPLES / "namespaces.yaml"
    control_plane.kubectl(
        "apply", "--server-side", "--field-manager=voxgate-tests", "-f", str(path)
    )
    return [doc["metadata"]["name"] for doc in load_documents(path)]


@pytest.fixture(scope="session")
def custom_api(control_plane: ControlPlane) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(control_plane.api_client())


class Objects:
    """Create, replace and patch voxgate objects, returning the server's answer or its error."""

    def __init__(self, api: client.CustomObjectsApi) -> None:
        self.api = api

    def create(self, obj: Obj, namespace: str, *, dry_run: bool = False) -> Obj:
        result = self.api.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURALS[obj["kind"]],
            obj,
            dry_run="All" if dry_run else None,
            field_validation="Strict",
        )
        return cast(Obj, result)

    def replace(self, obj: Obj, namespace: str, *, dry_run: bool = True) -> Obj:
        result = self.api.replace_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            PLURALS[obj["kind"]],
            obj["metadata"]["name"],
            obj,
            dry_run="All" if dry_run else None,
            field_validation="Strict",
        )
        return cast(Obj, result)

    def replace_status(self, obj: Obj, namespace: str, *, dry_run: bool = False) -> Obj:
        result = self.api.replace_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            PLURALS[obj["kind"]],
            obj["metadata"]["name"],
            obj,
            dry_run="All" if dry_run else None,
            field_validation="Strict",
        )
        return cast(Obj, result)

    def rejection(self, call: Callable[[], Obj], status: int = 422) -> str:
        """Run `call`, which must be refused as invalid; return the server's message."""
        with pytest.raises(ApiException) as caught:
            call()
        assert caught.value.status == status, caught.value.body
        message: str = json.loads(str(caught.value.body))["message"]
        return message


@pytest.fixture(scope="session")
def objects(custom_api: client.CustomObjectsApi) -> Objects:
    return Objects(custom_api)
