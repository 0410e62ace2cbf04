"""KubernetesSecretProvider against a real kube-apiserver and etcd."""

from __future__ import annotations

import base64
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kubernetes import client

from voxgate.devcluster import ControlPlane
from voxgate.keys.model import KekRef
from voxgate.keys.secret_provider import KubernetesSecretProvider, secret_name
from voxgate.sealed.dek import LocalDekProvider
from voxgate.sealed.errors import (
    KekExists,
    KekInUse,
    KeyStoreError,
    UnknownKek,
    UnknownKekVersion,
)
from voxgate.sealed.rewrap import rewrap_file
from voxgate.sealed.seal import MANIFEST_NAME, SealKeys, SealOptions, seal_corpus
from voxgate.sealed.unseal import unseal

pytestmark = pytest.mark.integration


@pytest.fixture
def provider(control_plane: ControlPlane, namespace: str) -> KubernetesSecretProvider:
    return KubernetesSecretProvider(control_plane.api_client(), namespace)


@dataclass(frozen=True)
class StoredSecret:
    type: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    data: dict[str, str]


def read_secret(control_plane: ControlPlane, namespace: str, kek_id: str) -> StoredSecret:
    core = client.CoreV1Api(control_plane.api_client())
    secret = core.read_namespaced_secret(secret_name(kek_id), namespace)
    assert secret.metadata is not None
    return StoredSecret(
        secret.type,
        dict(secret.metadata.labels or {}),
        dict(secret.metadata.annotations or {}),
        {key: str(value) for key, value in (secret.data or {}).items()},
    )


def test_create_stores_version_1_in_a_labelled_secret(
    provider: KubernetesSecretProvider, control_plane: ControlPlane, namespace: str
) -> None:
    assert provider.create("speech") == 1
    secret = read_secret(control_plane, namespace, "speech")
    assert secret.type == "Opaque"
    assert secret.labels["app.kubernetes.io/managed-by"] == "voxgate"
    assert secret.labels["voxgate.io/kek"] == "speech"
    assert sorted(secret.data) == ["v1"]
    assert base64.b64decode(secret.data["v1"]) == bytes(provider.get("speech", 1))
    assert len(provider.get("speech", 1)) == 32
    with pytest.raises(KekExists, match="already exists"):
        provider.create("speech")


def test_rotate_and_retire_keep_versions_monotonic(
    provider: KubernetesSecretProvider, control_plane: ControlPlane, namespace: str
) -> None:
    provider.create("speech")
    first = bytes(provider.get("speech", 1))
    assert provider.rotate("speech") == 2
    assert provider.latest_version("speech") == 2
    assert bytes(provider.get("speech", 2)) != first
    with pytest.raises(KekInUse, match="is the newest"):
        provider.retire("speech", 2)
    provider.retire("speech", 1)
    secret = read_secret(control_plane, namespace, "speech")
    assert sorted(secret.data) == ["v2"]
    assert secret.annotations["voxgate.io/retired-versions"] == "1"
    with pytest.raises(UnknownKekVersion, match="version 1 was retired"):
        provider.get("speech", 1)
    assert provider.rotate("speech") == 3
    assert [v.version for v in provider.versions("speech")] == [2, 3]
    assert all(v.created_at.endswith("Z") for v in provider.versions("speech"))


def test_a_concurrent_change_is_retried_not_lost(
    control_plane: ControlPlane, namespace: str
) -> None:
    other = KubernetesSecretProvider(control_plane.api_client(), namespace)

    class Racing(KubernetesSecretProvider):
        """Lets another writer rotate right after our first read: our replace then conflicts."""

        raced = False

        def _read(self, kek_id: str) -> tuple[object, client.V1Secret]:  # type: ignore[override]
            result = super()._read(kek_id)
            if not self.raced:
                self.raced = True
                other.rotate(kek_id)
            return result

    racing = Racing(control_plane.api_client(), namespace)
    racing.create("speech")
    version = racing.rotate("speech")
    assert racing.raced
    assert version == 3  # the racer took 2; our retry re-read and added 3
    assert [v.version for v in racing.versions("speech")] == [1, 2, 3]


def test_unknown_and_foreign_secrets_are_refused(
    provider: KubernetesSecretProvider, control_plane: ControlPlane, namespace: str
) -> None:
    with pytest.raises(UnknownKek, match=f"Secret {namespace}/voxgate-kek-nope not found"):
        provider.get("nope", 1)
    core = client.CoreV1Api(control_plane.api_client())
    foreign = client.V1Secret(
        metadata=client.V1ObjectMeta(name=secret_name("theirs")),
        data={"v1": base64.b64encode(bytes(32)).decode()},
    )
    core.create_namespaced_secret(namespace, foreign)
    with pytest.raises(KeyStoreError, match="is not a voxgate KEK"):
        provider.get("theirs", 1)
    with pytest.raises(KeyStoreError, match="is not a voxgate KEK"):
        provider.rotate("theirs")
    assert provider.kek_ids() == []


def test_other_labels_and_annotations_survive_rotation(
    provider: KubernetesSecretProvider, control_plane: ControlPlane, namespace: str
) -> None:
    provider.create("speech")
    core = client.CoreV1Api(control_plane.api_client())
    core.patch_namespaced_secret(
        secret_name("speech"),
        namespace,
        {"metadata": {"labels": {"team": "speech"}, "annotations": {"owner": "steward"}}},
    )
    provider.rotate("speech")
    secret = read_secret(control_plane, namespace, "speech")
    assert secret.labels["team"] == "speech"
    assert secret.annotations["owner"] == "steward"
    assert provider.kek_ids() == ["speech"]


def test_a_user_without_rbac_gets_a_clear_error(
    control_plane: ControlPlane, namespace: str
) -> None:
    mallory = control_plane.api_client(control_plane.user("mallory", ["researchers"]))
    with pytest.raises(
        KeyStoreError, match=f"cannot read KEK 'speech' in namespace {namespace}: HTTP 403"
    ):
        KubernetesSecretProvider(mallory, namespace).get("speech", 1)


def test_seal_rotate_rewrap_unseal_retire_with_secrets(
    provider: KubernetesSecretProvider, tmp_path: Path
) -> None:
    provider.create("speech")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for rate in (8000, 16000):
        with wave.open(str(corpus / f"{rate}.wav"), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(rate)
            writer.writeframes(bytes(range(256)) * 40)
    signing = Ed25519PrivateKey.generate()
    sealed = tmp_path / "sealed"
    keys = SealKeys(provider, "speech", signing)
    seal_corpus(corpus, sealed, SealOptions("demo", chunk_size=4096), keys, report=print)

    provider.rotate("speech")
    before, after = rewrap_file(sealed / MANIFEST_NAME, signing.public_key(), provider, signing)
    assert (before, after) == (KekRef("speech", 1), KekRef("speech", 2))
    provider.retire("speech", 1)

    result = unseal(
        (sealed / MANIFEST_NAME).read_bytes(),
        signing.public_key(),
        LocalDekProvider(provider),
        sealed,
        tmp_path / "plain",
    )
    assert sorted(p.read_bytes() for p in result.files) == sorted(
        p.read_bytes() for p in corpus.iterdir()
    )
