"""`LeaseStore`: the operator's coordination.k8s.io/v1 Lease through the official (sync) client.

Every write is a compare-and-swap: create fails if the Lease exists, replace carries the
resourceVersion that was read. Losing either race (409, or 404 when the Lease vanished since it
was read) raises LeaseConflict; anything else the API server or the network refuses raises
LeaseError with one line. From asyncio, call these through asyncio.to_thread.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate.leadership.decision import LeaseRecord
from voxgate.settings import DEFAULT_LEADER_LEASE_NAME

MANAGED_BY_LABEL, MANAGED_BY = "app.kubernetes.io/managed-by", "voxgate"
COMPONENT_LABEL, COMPONENT = "app.kubernetes.io/component", "leader-election"
HTTP_NOT_FOUND, HTTP_CONFLICT = 404, 409
DEFAULT_REQUEST_TIMEOUT_SECONDS = 10.0


class LeaseError(RuntimeError):
    """The Lease could not be read or written; the message says why in one line."""


class LeaseConflict(LeaseError):
    """Someone else wrote the Lease since it was read: this compare-and-swap lost."""


class LeaseStore:
    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str = DEFAULT_LEADER_LEASE_NAME,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
    ) -> None:
        self.coordination = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        # A hung connection must not outlast the renew deadline.
        self.request_timeout = request_timeout

    @property
    def where(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    def read(self) -> LeaseRecord | None:
        """The Lease, or None if there is none."""
        try:
            lease = self.coordination.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=self.request_timeout
            )
        except ApiException as error:
            if error.status == HTTP_NOT_FOUND:
                return None
            raise self._error("read", error) from None
        except urllib3.exceptions.HTTPError as error:
            raise LeaseError(f"cannot reach the API server: {type(error).__name__}") from None
        return _record(lease)

    def create(self, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease as `record`; LeaseConflict if it exists already."""
        return self._write("create", record)

    def replace(self, record: LeaseRecord) -> LeaseRecord:
        """Replace the Lease with `record` if it is still at record.resource_version."""
        if not record.resource_version:
            raise LeaseError(f"cannot replace {self.where} without the resourceVersion read")
        return self._write("replace", record)

    def _write(self, action: str, record: LeaseRecord) -> LeaseRecord:
        body = self._body(record, with_version=action == "replace")
        try:
            if action == "create":
                written = self.coordination.create_namespaced_lease(
                    self.namespace, body, _request_timeout=self.request_timeout
                )
            else:
                written = self.coordination.replace_namespaced_lease(
                    self.name, self.namespace, body, _request_timeout=self.request_timeout
                )
        except ApiException as error:
            if error.status == HTTP_CONFLICT or (
                action == "replace" and error.status == HTTP_NOT_FOUND
            ):
                raise LeaseConflict(
                    f"{self.where} changed since it was read ({action} lost the race)"
                ) from None
            raise self._error(action, error) from None
        except urllib3.exceptions.HTTPError as error:
            raise LeaseError(f"cannot reach the API server: {type(error).__name__}") from None
        return _record(written)

    def _body(self, record: LeaseRecord, *, with_version: bool) -> client.V1Lease:
        return client.V1Lease(
            api_version="coordination.k8s.io/v1",
            kind="Lease",
            metadata=client.V1ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                labels={MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: COMPONENT},
                resource_version=record.resource_version if with_version else None,
            ),
            spec=client.V1LeaseSpec(
                holder_identity=record.holder or None,
                lease_duration_seconds=record.duration_seconds,
                acquire_time=_wire_time(record.acquire_time),
                renew_time=_wire_time(record.renew_time),
                lease_transitions=record.transitions,
            ),
        )

    def _error(self, action: str, error: ApiException) -> LeaseError:
        return LeaseError(f"cannot {action} {self.where}: HTTP {error.status} {error.reason}")


def _record(lease: Any) -> LeaseRecord:
    spec = lease.spec or client.V1LeaseSpec()
    return LeaseRecord(
        holder=spec.holder_identity or "",
        duration_seconds=spec.lease_duration_seconds,
        acquire_time=spec.acquire_time,
        renew_time=spec.renew_time,
        transitions=spec.lease_transitions or 0,
        resource_version=str(lease.metadata.resource_version),
    )


def _wire_time(at: datetime | None) -> datetime | None:
    """A time the API server accepts as a MicroTime.

    The client serializes datetimes with isoformat(), which leaves out the fraction when the
    microseconds are zero; the API server's MicroTime parser requires exactly six digits and
    refuses the whole Lease (400). One microsecond later is as good a renewTime.
    """
    if at is None or at.microsecond:
        return at
    return at + timedelta(microseconds=1)
