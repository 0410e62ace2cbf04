"""What the broker reads from the API server, reduced to the fields its decision looks at.

The converters are pure and tolerant: a malformed or missing field becomes None (or empty), and
the decision treats None as "not satisfied", so a broken object can only ever lead to a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

AUDIENCE = "voxgate-broker"
JOB_LABEL = "voxgate.io/training-job"
JOB_UID_ANNOTATION = "voxgate.io/training-job-uid"
SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:"
# Set by the API server on tokens bound to a Pod (every projected token a kubelet mounts).
POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid"

_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$")


class BadObjectRef(ValueError):
    """A `namespace/name` reference is malformed."""


@dataclass(frozen=True, order=True)
class ObjectRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> ObjectRef:
        namespace, slash, name = text.partition("/")
        if not slash or not _DNS_LABEL.fullmatch(namespace) or not _DNS_SUBDOMAIN.fullmatch(name):
            raise BadObjectRef(f"{text!r} is not NAMESPACE/NAME (lowercase DNS names)")
        return cls(namespace, name)


@dataclass(frozen=True)
class TokenReview:
    """The API server's verdict on a bearer token (TokenReview status)."""

    authenticated: bool
    username: str = ""
    uid: str = ""
    audiences: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def service_account(self) -> ObjectRef | None:
        """namespace/name when the token is a ServiceAccount's (system:serviceaccount:NS:NAME)."""
        if not self.username.startswith(SERVICE_ACCOUNT_USER_PREFIX):
            return None
        namespace, colon, name = self.username[len(SERVICE_ACCOUNT_USER_PREFIX) :].partition(":")
        if not colon or not _DNS_LABEL.fullmatch(namespace) or not _DNS_SUBDOMAIN.fullmatch(name):
            return None
        return ObjectRef(namespace, name)

    def bound_pod(self) -> tuple[str, str] | None:
        """(pod name, pod uid) when the token is bound to a Pod."""
        names, uids = self.extra.get(POD_NAME_EXTRA, ()), self.extra.get(POD_UID_EXTRA, ())
        if len(names) != 1 or len(uids) != 1:
            return None
        return names[0], uids[0]


@dataclass(frozen=True)
class ServiceAccountView:
    namespace: str
    name: str
    uid: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PodView:
    namespace: str
    name: str
    uid: str
    service_account: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingJobView:
    namespace: str
    name: str
    uid: str
    phase: str | None
    credentials_expire_at: datetime | None
    dataset: ObjectRef | None  # spec.datasetRef, namespace defaulted to the job's
    # spec.privacy set: the job's epsilon is reserved in the dataset's ledger and the first key
    # release turns the reservation into a permanent charge.
    charges_privacy: bool = False

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> TrainingJobView:
        meta = _mapping(obj.get("metadata"))
        spec, status = _mapping(obj.get("spec")), _mapping(obj.get("status"))
        namespace = _text(meta.get("namespace"))
        ref = _mapping(spec.get("datasetRef"))
        ref_name = _text(ref.get("name"))
        ref_namespace = _text(ref.get("namespace")) or namespace
        return cls(
            namespace=namespace,
            name=_text(meta.get("name")),
            uid=_text(meta.get("uid")),
            phase=_text(status.get("phase")) or None,
            credentials_expire_at=parse_time(status.get("credentialsExpireAt")),
            dataset=ObjectRef(ref_namespace, ref_name) if ref_name and ref_namespace else None,
            charges_privacy=bool(spec.get("privacy")),
        )


@dataclass(frozen=True)
class DatasetView:
    namespace: str
    name: str
    kek_name: str | None  # spec.encryption.keyRef.name
    kek_provider: str  # spec.encryption.keyRef.provider (Secret by default)
    manifest_digest: str | None  # status.manifestDigest, set once the operator verified it
    phase: str | None
    consent_expires_at: datetime | None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(self.namespace, self.name)

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> DatasetView:
        meta = _mapping(obj.get("metadata"))
        spec, status = _mapping(obj.get("spec")), _mapping(obj.get("status"))
        key_ref = _mapping(_mapping(spec.get("encryption")).get("keyRef"))
        return cls(
            namespace=_text(meta.get("namespace")),
            name=_text(meta.get("name")),
            kek_name=_text(key_ref.get("name")) or None,
            kek_provider=_text(key_ref.get("provider")) or "Secret",
            manifest_digest=_text(status.get("manifestDigest")) or None,
            phase=_text(status.get("phase")) or None,
            consent_expires_at=parse_time(_mapping(spec.get("consent")).get("expiresAt")),
        )


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime; None when absent or malformed."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # A timestamp without an offset is not RFC 3339; refusing it beats guessing a zone.
    return parsed if parsed.tzinfo else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
