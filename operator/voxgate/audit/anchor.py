"""Anchoring: the trail's head {seq, digest, time} kept outside the trail, in a ConfigMap.

Each replica writes its own trail (on its own volume), so each has its own anchor:
`voxgate-audit-anchor-<pod name>` (anchor_name). A process that does not know its pod name (run
outside the chart) uses the unsuffixed `voxgate-audit-anchor`.

The trail file alone cannot show that records were cut off its end: a shorter chain is still a
valid chain. The anchor is a second witness the file's owner does not control alone: it lives in
the API server (whose own audit log records who changed it), it only moves forward, and every
change is a compare-and-swap on the resourceVersion that was read, so a stale writer can never
overwrite a newer anchor. `voxgate audit verify --anchor-configmap` then requires the anchored
record to be in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate.audit.canonical import DIGEST_PATTERN
from voxgate.audit.errors import AnchorConflict, AnchorError, AnchorMismatch, AnchorRegression
from voxgate.audit.record import ChainHead, format_time

DEFAULT_ANCHOR_NAME = "voxgate-audit-anchor"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "voxgate"
COMPONENT_LABEL = "app.kubernetes.io/component"
COMPONENT = "audit-anchor"
SEQ_KEY, DIGEST_KEY, TIME_KEY, REPLICA_KEY = "seq", "digest", "time", "replica"
# A ConfigMap's name is a DNS subdomain.
MAX_NAME_LENGTH = 253
HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409
_SEQ = re.compile(r"^[0-9]{1,18}$")


@dataclass(frozen=True)
class StoredAnchor:
    """The anchor as read from the API server; `resource_version` is the compare in the swap."""

    seq: int
    digest: str
    time: str
    resource_version: str

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.seq, self.digest)


def should_anchor(
    last_anchor_time: datetime | None,
    now: datetime,
    interval: timedelta,
    records_since: int,
    *,
    max_pending: int | None = None,
) -> bool:
    """Whether to anchor now: only if there is something new, and then when `interval` has
    passed since the last anchor (or there was none), or `max_pending` records are waiting.
    A clock that went backwards counts as due: anchoring too often is harmless."""
    if records_since <= 0:
        return False
    if last_anchor_time is None:
        return True
    if max_pending is not None and records_since >= max_pending:
        return True
    elapsed = now - last_anchor_time
    return elapsed >= interval or elapsed < timedelta(0)


def anchor_name(replica: str) -> str:
    """The anchor ConfigMap of the replica (pod) `replica`; "" is a process without a pod name."""
    if not replica:
        return DEFAULT_ANCHOR_NAME
    name = f"{DEFAULT_ANCHOR_NAME}-{replica}"
    if len(name) > MAX_NAME_LENGTH:
        raise AnchorError(f"replica name {replica!r} is too long to name its anchor ConfigMap")
    return name


class AnchorStore:
    """The anchor ConfigMap through the official (sync) kubernetes client."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str = DEFAULT_ANCHOR_NAME,
        *,
        replica: str = "",
        max_attempts: int = 5,
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.name = name
        # Set: the anchor records whose trail it anchors, and reading another's is refused.
        self.replica = replica
        self.max_attempts = max_attempts

    @classmethod
    def for_replica(
        cls, api_client: client.ApiClient, namespace: str, replica: str, *, max_attempts: int = 5
    ) -> AnchorStore:
        """The anchor of replica `replica`'s trail (settings.replica, the pod's name)."""
        return cls(
            api_client,
            namespace,
            anchor_name(replica),
            replica=replica,
            max_attempts=max_attempts,
        )

    @property
    def where(self) -> str:
        return f"ConfigMap {self.namespace}/{self.name}"

    def read(self) -> StoredAnchor | None:
        """The stored anchor, or None if there is none yet."""
        try:
            configmap = self.core.read_namespaced_config_map(self.name, self.namespace)
        except ApiException as error:
            if error.status == HTTP_NOT_FOUND:
                return None
            raise self._error("read", error) from None
        except urllib3.exceptions.HTTPError as error:
            raise AnchorError(f"cannot reach the API server: {type(error).__name__}") from None
        return self._parse(configmap)

    def swap(self, current: StoredAnchor | None, head: ChainHead, at: datetime) -> StoredAnchor:
        """One compare-and-swap: store `head` if the anchor is still `current` (None: absent).

        Raises AnchorConflict if someone else changed it since `current` was read,
        AnchorRegression if `head` is older than `current`, AnchorMismatch if it has the same
        seq but another digest (the trail was rewritten).
        """
        _check_forward(current, head, self.where)
        if current is not None and current.head == head:
            return current
        body = self._body(head, at, current)
        try:
            if current is None:
                written = self.core.create_namespaced_config_map(self.namespace, body)
            else:
                written = self.core.replace_namespaced_config_map(self.name, self.namespace, body)
        except ApiException as error:
            if error.status == HTTP_CONFLICT:
                raise AnchorConflict(
                    f"{self.where} changed since it was read (compare-and-swap lost)"
                ) from None
            raise self._error("write", error) from None
        except urllib3.exceptions.HTTPError as error:
            raise AnchorError(f"cannot reach the API server: {type(error).__name__}") from None
        return self._parse(written)

    def anchor(self, head: ChainHead, at: datetime) -> StoredAnchor:
        """Store `head` as the anchor, re-reading and retrying when another writer got there
        first; never moves the anchor backwards (AnchorRegression)."""
        if head.seq < 1:
            raise AnchorError("nothing to anchor: the trail has no records yet")
        for _ in range(self.max_attempts):
            current = self.read()
            try:
                return self.swap(current, head, at)
            except AnchorConflict:
                continue  # re-read: the new state is checked for regression again
        raise AnchorConflict(
            f"{self.where} kept changing under us ({self.max_attempts} conflicts); retry later"
        )

    def _body(self, head: ChainHead, at: datetime, current: StoredAnchor | None) -> Any:
        return client.V1ConfigMap(
            api_version="v1",
            kind="ConfigMap",
            metadata=client.V1ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                labels={MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: COMPONENT},
                resource_version=current.resource_version if current is not None else None,
            ),
            data={
                SEQ_KEY: str(head.seq),
                DIGEST_KEY: head.digest,
                TIME_KEY: format_time(at),
                **({REPLICA_KEY: self.replica} if self.replica else {}),
            },
        )

    def _parse(self, configmap: Any) -> StoredAnchor:
        labels = (configmap.metadata.labels if configmap.metadata else None) or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
            raise AnchorError(
                f"{self.where} is not managed by voxgate (label {MANAGED_BY_LABEL}={MANAGED_BY})"
            )
        data = configmap.data or {}
        seq, digest = data.get(SEQ_KEY, ""), data.get(DIGEST_KEY, "")
        if not _SEQ.match(seq) or int(seq) < 1 or not DIGEST_PATTERN.match(digest):
            raise AnchorError(f"{self.where} does not hold a valid anchor (seq and digest)")
        if self.replica and data.get(REPLICA_KEY, "") != self.replica:
            raise AnchorError(
                f"{self.where} anchors the trail of replica {data.get(REPLICA_KEY, '')!r}, "
                f"not of {self.replica!r}"
            )
        return StoredAnchor(
            seq=int(seq),
            digest=digest,
            time=str(data.get(TIME_KEY, "")),
            resource_version=str(configmap.metadata.resource_version),
        )

    def _error(self, action: str, error: ApiException) -> AnchorError:
        return AnchorError(f"cannot {action} {self.where}: HTTP {error.status} {error.reason}")


def _check_forward(current: StoredAnchor | None, head: ChainHead, where: str) -> None:
    if current is None:
        return
    if head.seq < current.seq:
        raise AnchorRegression(
            f"{where} is at seq {current.seq}; refusing to move it back to seq {head.seq} "
            "(was the trail truncated or replaced?)"
        )
    if head.seq == current.seq and head.digest != current.digest:
        raise AnchorMismatch(
            f"{where} anchors seq {current.seq} with another digest; the trail was rewritten"
        )
