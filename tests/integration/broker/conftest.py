"""A key broker served in-process over TLS, talking to the real API server, and a world for it.

The broker runs in its own event-loop thread, so tests call it with the synchronous client just
as `voxgate unseal` does. The world is real: namespaces, a KEK in a Secret, a sealed corpus of
synthetic WAVs, a SpeechDataset, TrainingJobs with their status set through the status
subresource, ServiceAccounts, Pods, and tokens from the TokenRequest API.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kubernetes import client
from kubernetes.client import ApiClient

from voxgate.broker.client import BrokerDekProvider, RetryPolicy
from voxgate.broker.server import (
    BrokerServer,
    BrokerSettings,
    KekProviderFactory,
    secret_kek_provider_factory,
    serve_broker,
)
from voxgate.broker.views import AUDIENCE, JOB_LABEL, JOB_UID_ANNOTATION, ObjectRef
from voxgate.devcluster import ControlPlane, pki
from voxgate.keys.secret_provider import KubernetesSecretProvider
from voxgate.sealed.manifest import Manifest, public_key_b64, read_manifest_unverified
from voxgate.sealed.seal import MANIFEST_NAME, SealKeys, SealOptions, seal_corpus
from voxgate.sealed.synthetic import write_wav

GROUP, VERSION = "voxgate.io", "v1alpha1"
KEK = "calls-kek"
IMAGE = "registry.example.org/asr/trainer@sha256:" + "1" * 64


class RecordingAudit:
    """An AuditSink that keeps what it is told (thread-safe: the broker records from threads)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.fail = False
        self._lock = threading.Lock()

    def record(self, event: str, subject: dict[str, Any], details: dict[str, Any]) -> None:
        if self.fail:
            raise OSError("audit disk full")
        with self._lock:
            self.records.append((event, subject, details))


@dataclass(frozen=True)
class BrokerPki:
    ca: Path
    cert: Path
    key: Path
    other_ca: Path  # a CA that did not sign the broker's certificate


@pytest.fixture(scope="session")
def broker_pki(tmp_path_factory: pytest.TempPathFactory) -> BrokerPki:
    directory = tmp_path_factory.mktemp("broker-pki")
    ca = pki.new_ca(directory, "broker-ca", "voxgate-test-broker-ca")
    pair = ca.issue(directory, "broker", "voxgate-broker", server_names=("127.0.0.1", "localhost"))
    other = pki.new_ca(directory, "other-ca", "someone-else")
    return BrokerPki(ca.files.cert_path, pair.cert_path, pair.key_path, other.files.cert_path)


class RunningBroker:
    """serve_broker() on 127.0.0.1 in a private event loop on a daemon thread."""

    def __init__(
        self,
        settings: BrokerSettings,
        api_client: ApiClient,
        factory: KekProviderFactory,
        audit: RecordingAudit,
    ) -> None:
        self.audit = audit
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        start = serve_broker(settings, api_client, factory, audit)
        self.server: BrokerServer = asyncio.run_coroutine_threadsafe(start, self.loop).result(30)
        self.url = f"https://127.0.0.1:{self.server.port}"
        self.stopped = False

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


StartBroker = Callable[..., RunningBroker]


@pytest.fixture
def start_broker(control_plane: ControlPlane, broker_pki: BrokerPki) -> Iterator[StartBroker]:
    """Start a broker (stopped after the test); keyword arguments change its settings."""
    started: list[RunningBroker] = []

    def start(
        operator_namespace: str,
        *,
        api_client: ApiClient | None = None,
        factory: KekProviderFactory | None = None,
        **settings: Any,
    ) -> RunningBroker:
        admin = control_plane.api_client()
        base = BrokerSettings(broker_pki.cert, broker_pki.key, host="127.0.0.1", port=0)
        chosen = BrokerSettings(**{**base.__dict__, **settings})
        factory = factory or secret_kek_provider_factory(admin, operator_namespace)
        broker = RunningBroker(chosen, api_client or admin, factory, RecordingAudit())
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


def as_object(found: object) -> dict[str, Any]:
    assert isinstance(found, dict)
    return found


def new_namespace(api: client.CoreV1Api, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


@dataclass
class World:
    """One dataset, sealed and published, and the means to make jobs and tokens against it."""

    plane: ControlPlane
    api: ApiClient
    operator_ns: str
    data_ns: str
    team_ns: str
    corpus: Path
    sealed: Path
    manifest: Manifest
    signing: Ed25519PrivateKey
    tmp: Path
    tokens: list[str] = field(default_factory=list)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    kek: str = KEK

    @property
    def dataset(self) -> ObjectRef:
        return ObjectRef(self.data_ns, "calls")

    def seal(self, dataset_id: str, out: Path) -> Manifest:
        return seal_into(
            self.api,
            self.operator_ns,
            self.signing,
            corpus=self.corpus,
            dataset_id=dataset_id,
            out=out,
        )

    def publish_dataset(self, name: str, manifest_digest: str | None) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SpeechDataset",
            "metadata": {"name": name, "namespace": self.data_ns},
            "spec": {
                "tier": "synthetic",
                "storage": {"pvc": {"claimName": f"{name}-sealed"}},
                "encryption": {
                    "keyRef": {"name": KEK},
                    "signingPublicKey": public_key_b64(self.signing.public_key()),
                },
                "consent": {"purposes": ["asr-training"]},
                "privacy": {"budget": {"epsilon": 10.0, "delta": 1.0e-5}},
            },
        }
        created = as_object(
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.data_ns, "speechdatasets", body
            )
        )
        if manifest_digest is not None:
            created["status"] = {"phase": "Ready", "manifestDigest": manifest_digest}
            created = as_object(
                self.custom.replace_namespaced_custom_object_status(
                    GROUP, VERSION, self.data_ns, "speechdatasets", name, created
                )
            )
        return created

    def job(
        self,
        name: str,
        phase: str = "Running",
        *,
        expires_in: timedelta = timedelta(minutes=10),
        dataset: ObjectRef | None = None,
        privacy: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A TrainingJob with its status set, its ServiceAccount <name>-trainer and a pod."""
        ref = dataset or self.dataset
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "TrainingJob",
            "metadata": {"name": name, "namespace": self.team_ns},
            "spec": {
                "datasetRef": {"name": ref.name, "namespace": ref.namespace},
                "purpose": "asr-training",
                "image": IMAGE,
                **({"privacy": privacy} if privacy else {}),
            },
        }
        job = as_object(
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.team_ns, "trainingjobs", body
            )
        )
        expires = (datetime.now(UTC) + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ")
        job["status"] = {"phase": phase, "credentialsExpireAt": expires}
        job = as_object(
            self.custom.replace_namespaced_custom_object_status(
                GROUP, VERSION, self.team_ns, "trainingjobs", name, job
            )
        )
        uid = job["metadata"]["uid"]
        self.service_account(
            f"{name}-trainer", self.team_ns, {JOB_LABEL: name}, {JOB_UID_ANNOTATION: uid}
        )
        self.pod(f"{name}-0", self.team_ns, f"{name}-trainer", {JOB_LABEL: name})
        return job

    def new_namespace(self, prefix: str) -> str:
        return new_namespace(self.core, prefix)

    def set_dataset_digest(self, name: str, digest: str) -> None:
        found = as_object(
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.data_ns, "speechdatasets", name
            )
        )
        found["status"] = {**found.get("status", {}), "manifestDigest": digest}
        self.custom.replace_namespaced_custom_object_status(
            GROUP, VERSION, self.data_ns, "speechdatasets", name, found
        )

    def set_job_status(self, name: str, **status: Any) -> None:
        job = as_object(
            self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.team_ns, "trainingjobs", name
            )
        )
        job["status"] = {**job.get("status", {}), **status}
        self.custom.replace_namespaced_custom_object_status(
            GROUP, VERSION, self.team_ns, "trainingjobs", name, job
        )

    def service_account(
        self,
        name: str,
        namespace: str,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> None:
        meta = client.V1ObjectMeta(name=name, labels=labels, annotations=annotations)
        account = client.V1ServiceAccount(metadata=meta, automount_service_account_token=False)
        self.core.create_namespaced_service_account(namespace, account)

    def pod(self, name: str, namespace: str, account: str, labels: dict[str, str]) -> str:
        """A pod object (no kubelet runs it: it only anchors bound tokens); returns its uid."""
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels=labels),
            spec=client.V1PodSpec(
                service_account_name=account,
                automount_service_account_token=False,
                containers=[client.V1Container(name="trainer", image=IMAGE)],
            ),
        )
        created = self.core.create_namespaced_pod(namespace, pod)
        assert created.metadata is not None and created.metadata.uid is not None
        return created.metadata.uid

    def token(
        self,
        account: str,
        namespace: str | None = None,
        *,
        pod: str | None = None,
        audience: str = AUDIENCE,
    ) -> str:
        """A token from the TokenRequest API, bound to `pod` when given (as a projected one)."""
        namespace = namespace or self.team_ns
        bound = None
        if pod is not None:
            found = self.core.read_namespaced_pod(pod, namespace)
            assert found.metadata is not None
            bound = client.V1BoundObjectReference(
                api_version="v1", kind="Pod", name=pod, uid=found.metadata.uid
            )
        spec = client.V1TokenRequestSpec(
            audiences=[audience], expiration_seconds=600, bound_object_ref=bound
        )
        answer = self.core.create_namespaced_service_account_token(
            account, namespace, client.AuthenticationV1TokenRequest(spec=spec)
        )
        assert answer.status is not None
        token = answer.status.token
        assert token
        self.tokens.append(token)
        return token

    def token_file(self, token: str) -> Path:
        path = self.tmp / f"token-{uuid.uuid4().hex[:8]}"
        path.write_text(token)
        return path

    def provider(
        self,
        broker: RunningBroker,
        token: str,
        ca: Path,
        *,
        dataset: ObjectRef | None = None,
        attempts: int = 1,
    ) -> BrokerDekProvider:
        return BrokerDekProvider(
            broker.url,
            self.token_file(token),
            dataset=dataset or self.dataset,
            ca_file=ca,
            retry=RetryPolicy(attempts=attempts, first_delay_seconds=0.05),
        )


def seal_into(
    api: ApiClient,
    operator_ns: str,
    signing: Ed25519PrivateKey,
    *,
    corpus: Path,
    dataset_id: str,
    out: Path,
) -> Manifest:
    keys = SealKeys(KubernetesSecretProvider(api, operator_ns), KEK, signing)
    options = SealOptions(dataset_id, chunk_size=4096)
    seal_corpus(corpus, out, options, keys, report=lambda _line: None)
    return read_manifest_unverified((out / MANIFEST_NAME).read_bytes())


@pytest.fixture
def world(control_plane: ControlPlane, crds: list[str], namespace: str, tmp_path: Path) -> World:
    api = control_plane.api_client()
    core = client.CoreV1Api(api)
    operator_ns, data_ns = new_namespace(core, "ops"), new_namespace(core, "data")
    KubernetesSecretProvider(api, operator_ns).create(KEK)
    corpus = tmp_path / "corpus"
    for seed, (name, rate, seconds) in enumerate(
        [("a.wav", 16000, 0.2), ("b.wav", 8000, 0.3), ("c.wav", 22050, 0.05)]
    ):
        write_wav(corpus / name, rate=rate, seconds=seconds, seed=seed)
    signing = Ed25519PrivateKey.generate()
    # Sealed under the bare name, as docs/keys.md shows stewards doing.
    manifest = seal_into(
        api, operator_ns, signing, corpus=corpus, dataset_id="calls", out=tmp_path / "sealed"
    )
    world = World(
        control_plane,
        api,
        operator_ns,
        data_ns,
        namespace,
        corpus,
        tmp_path / "sealed",
        manifest,
        signing,
        tmp_path,
    )
    world.publish_dataset("calls", manifest.digest())
    return world
