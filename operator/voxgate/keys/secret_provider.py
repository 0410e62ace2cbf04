"""KEKs in Kubernetes Secrets: one Secret per KEK in the operator's namespace.

Secret `voxgate-kek-<name>`, type Opaque, data keys `v1`, `v2`, ... (the raw 32-byte keys),
labels app.kubernetes.io/managed-by=voxgate and voxgate.io/kek=<name>, annotations with each
version's creation time and the retired version numbers (so numbers are never reused).
Changes are read-modify-replace with the read resourceVersion; a conflict re-reads and retries.
"""

from __future__ import annotations

from collections.abc import Callable

from kubernetes.client import ApiClient, CoreV1Api, V1ObjectMeta, V1Secret
from kubernetes.client.exceptions import ApiException

from voxgate.keys.errors import KekExists, KeyStoreError, UnknownKek
from voxgate.keys.model import MANAGED_BY_LABEL, MANAGED_BY_VALUE, KekVersion, check_kek_id
from voxgate.keys.record import KekRecord, StoredVersion, new_record

SECRET_PREFIX = "voxgate-kek-"  # noqa: S105 - a name prefix, not a password
KEK_LABEL = "voxgate.io/kek"
CREATED_ANNOTATION = "voxgate.io/created-v"  # + version number
RETIRED_ANNOTATION = "voxgate.io/retired-versions"


def secret_name(kek_id: str) -> str:
    return SECRET_PREFIX + check_kek_id(kek_id)


class KubernetesSecretProvider:
    def __init__(self, api_client: ApiClient, namespace: str, *, conflict_retries: int = 5) -> None:
        self.core = CoreV1Api(api_client)
        self.namespace = namespace
        self.conflict_retries = conflict_retries

    def get(self, kek_id: str, version: int) -> bytearray:
        return self._read(kek_id)[0].key(version)

    def latest_version(self, kek_id: str) -> int:
        return self._read(kek_id)[0].latest()

    def versions(self, kek_id: str) -> list[KekVersion]:
        return self._read(kek_id)[0].versions()

    def kek_ids(self) -> list[str]:
        selector = f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{KEK_LABEL}"
        try:
            secrets = self.core.list_namespaced_secret(self.namespace, label_selector=selector)
        except ApiException as error:
            raise self._error("list KEK Secrets", error) from None
        return sorted(_labels(secret)[KEK_LABEL] for secret in secrets.items)

    def create(self, kek_id: str) -> int:
        body = _secret_body(new_record(check_kek_id(kek_id)), self.namespace, None)
        try:
            self.core.create_namespaced_secret(self.namespace, body)
        except ApiException as error:
            if error.status == 409:
                raise KekExists(
                    f"KEK {kek_id!r} already exists (Secret {self.namespace}/{secret_name(kek_id)})"
                ) from None
            raise self._error(f"create KEK {kek_id!r}", error) from None
        return 1

    def rotate(self, kek_id: str) -> int:
        added: list[int] = []

        def change(record: KekRecord) -> KekRecord:
            updated, version = record.with_new_version()
            added[:] = [version]
            return updated

        self._update(kek_id, change)
        return added[0]

    def retire(self, kek_id: str, version: int) -> None:
        self._update(kek_id, lambda record: record.without_version(version))

    def _update(self, kek_id: str, change: Callable[[KekRecord], KekRecord]) -> None:
        for _ in range(self.conflict_retries):
            record, current = self._read(kek_id)
            body = _secret_body(change(record), self.namespace, current)
            try:
                self.core.replace_namespaced_secret(secret_name(kek_id), self.namespace, body)
            except ApiException as error:
                if error.status == 409:
                    continue  # someone else changed the Secret since we read it
                raise self._error(f"update KEK {kek_id!r}", error) from None
            return
        raise KeyStoreError(
            f"KEK {kek_id!r} kept changing under us ({self.conflict_retries} conflicts); retry"
        )

    def _read(self, kek_id: str) -> tuple[KekRecord, V1Secret]:
        name = secret_name(kek_id)
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except ApiException as error:
            if error.status == 404:
                raise UnknownKek(
                    f"no KEK {kek_id!r} (Secret {self.namespace}/{name} not found)"
                ) from None
            raise self._error(f"read KEK {kek_id!r}", error) from None
        labels = _labels(secret)
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or labels.get(KEK_LABEL) != kek_id:
            raise KeyStoreError(
                f"Secret {self.namespace}/{name} is not a voxgate KEK "
                f"(labels {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}, {KEK_LABEL}={kek_id} missing)"
            )
        return _record_from_secret(kek_id, secret, name), secret

    def _error(self, action: str, error: ApiException) -> KeyStoreError:
        reason = error.reason or "error"
        return KeyStoreError(
            f"cannot {action} in namespace {self.namespace}: HTTP {error.status} {reason}"
        )


def _labels(secret: V1Secret) -> dict[str, str]:
    return dict(secret.metadata.labels or {}) if secret.metadata else {}


def _annotations(secret: V1Secret | None) -> dict[str, str]:
    if secret is None or secret.metadata is None:
        return {}
    return dict(secret.metadata.annotations or {})


def _record_from_secret(kek_id: str, secret: V1Secret, name: str) -> KekRecord:
    annotations = _annotations(secret)
    try:
        live = {
            int(key[1:]): StoredVersion(
                value if isinstance(value, str) else value.decode("ascii"),
                annotations.get(CREATED_ANNOTATION + key[1:], ""),
            )
            for key, value in (secret.data or {}).items()
            if key.startswith("v")
        }
        retired_text = annotations.get(RETIRED_ANNOTATION, "")
        retired = frozenset(int(v) for v in retired_text.split(",") if v)
    except ValueError:
        raise KeyStoreError(f"Secret {name} has malformed KEK versions") from None
    return KekRecord(kek_id, live, retired)


def _secret_body(record: KekRecord, namespace: str, current: V1Secret | None) -> V1Secret:
    """The whole Secret for `record`; labels and annotations others added to `current` survive."""
    labels = _labels(current) if current is not None else {}
    labels.update({MANAGED_BY_LABEL: MANAGED_BY_VALUE, KEK_LABEL: record.kek_id})
    annotations = {
        key: value
        for key, value in _annotations(current).items()
        if not key.startswith(CREATED_ANNOTATION) and key != RETIRED_ANNOTATION
    }
    annotations.update({CREATED_ANNOTATION + str(v): s.created_at for v, s in record.live.items()})
    annotations[RETIRED_ANNOTATION] = ",".join(str(v) for v in sorted(record.retired))
    # Optimistic concurrency: with the read resourceVersion the API server refuses a stale replace.
    resource_version = current.metadata.resource_version if current and current.metadata else None
    return V1Secret(
        api_version="v1",
        kind="Secret",
        type="Opaque",
        metadata=V1ObjectMeta(
            name=secret_name(record.kek_id),
            namespace=namespace,
            labels=labels,
            annotations=annotations,
            resource_version=resource_version,
        ),
        # Secret `data` holds base64 of the raw bytes, which is exactly what the record stores.
        data={f"v{v}": s.key_b64 for v, s in sorted(record.live.items())},
    )
