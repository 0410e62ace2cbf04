"""KubeGateway: every call the reconcilers make to the API server, in one typed place.

The official client is synchronous; reconcilers call these methods through asyncio.to_thread so
kopf's event loop keeps serving other objects. Objects come back as plain dicts (the same shape
kopf hands the handlers), so pure code never sees client model classes.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate import API_GROUP, API_VERSION

log = logging.getLogger(__name__)

FIELD_MANAGER = "voxgate"
PLURALS = {
    "TrainingJob": "trainingjobs",
    "SpeechDataset": "speechdatasets",
    "DataGrant": "datagrants",
}

Object = dict[str, Any]
# The operator framework keeps its own bookkeeping in status.kopf (declared by the CRDs). It is
# not the reconcilers' business, and a status they write back must not carry a stale copy of it.
BOOKKEEPING_FIELD = "kopf"


# The children a TrainingJob gets, by kind: (API path prefix, plural).
CHILD_PATHS = {
    ("v1", "ServiceAccount"): ("/api/v1", "serviceaccounts"),
    ("v1", "ConfigMap"): ("/api/v1", "configmaps"),
    ("v1", "Service"): ("/api/v1", "services"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("/apis/networking.k8s.io/v1", "networkpolicies"),
    ("batch/v1", "Job"): ("/apis/batch/v1", "jobs"),
}


def child_path(obj: Object) -> str:
    """The URL path of a namespaced child object; KeyError for a kind voxgate never creates."""
    prefix, plural = CHILD_PATHS[(obj["apiVersion"], obj["kind"])]
    meta = obj["metadata"]
    return f"{prefix}/namespaces/{meta['namespace']}/{plural}/{meta['name']}"


def without_bookkeeping(obj: Object) -> Object:
    status = obj.get("status")
    if isinstance(status, dict) and BOOKKEEPING_FIELD in status:
        obj = {**obj, "status": {k: v for k, v in status.items() if k != BOOKKEEPING_FIELD}}
    return obj


class KubeGateway:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.events = client.EventsV1Api(api_client)
        self.writes = 0  # API writes made, for the benchmarks' writes-per-job figure

    # -- voxgate objects -------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Object | None:
        try:
            obj = self.custom.get_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, PLURALS[kind], name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return without_bookkeeping(cast(Object, obj))

    def list(self, kind: str, namespace: str | None = None) -> list[Object]:
        if namespace is None:
            result = self.custom.list_cluster_custom_object(API_GROUP, API_VERSION, PLURALS[kind])
        else:
            result = self.custom.list_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, PLURALS[kind]
            )
        items = cast(list[Object], cast(Object, result).get("items", []))
        return [without_bookkeeping(item) for item in items]

    def patch_status(self, kind: str, namespace: str, name: str, status: Object) -> None:
        self.writes += 1
        self.custom.patch_namespaced_custom_object_status(
            API_GROUP, API_VERSION, namespace, PLURALS[kind], name, {"status": status}
        )

    # -- children --------------------------------------------------------------------------

    def apply(self, obj: Object) -> None:
        """Server-side apply as field manager `voxgate`, taking ownership of our fields.

        A plain PATCH whose answer is checked but not parsed: the reconcilers never read it,
        and turning a Job back into client objects cost more CPU than the call itself.
        """
        self.writes += 1
        request = self.api_client.param_serialize(
            "PATCH",
            child_path(obj),
            query_params=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            header_params={
                "Content-Type": "application/apply-patch+yaml",
                "Accept": "application/json",
            },
            body=obj,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*request)
        # Read to the end even when the answer is not needed: only a drained response gives its
        # connection back to the pool. Unread, every apply opened a new TLS connection, and the
        # handshakes took half the operator's CPU in a burst.
        cast(Any, response).read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)

    def get_batch_job(self, namespace: str, name: str) -> Object | None:
        try:
            job = self.batch.read_namespaced_job(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        result: Object = self.api_client.sanitize_for_serialization(job)
        return result

    def get_service_account(self, namespace: str, name: str) -> Object | None:
        try:
            account = self.core.read_namespaced_service_account(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        result: Object = self.api_client.sanitize_for_serialization(account)
        return result

    def delete_service_account(self, namespace: str, name: str, uid: str | None = None) -> bool:
        """Delete (only the account with `uid`, when given); False if it was already gone."""
        preconditions = client.V1Preconditions(uid=uid) if uid else None
        try:
            self.writes += 1
            self.core.delete_namespaced_service_account(
                name, namespace, body=client.V1DeleteOptions(preconditions=preconditions)
            )
        except ApiException as error:
            if error.status in (404, 409):
                return False
            raise
        return True

    def delete_batch_job(self, namespace: str, name: str) -> bool:
        try:
            self.writes += 1
            self.batch.delete_namespaced_job(
                name, namespace, body=client.V1DeleteOptions(propagation_policy="Background")
            )
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    def get_config_map(self, namespace: str, name: str) -> Object | None:
        try:
            config_map = self.core.read_namespaced_config_map(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        result: Object = self.api_client.sanitize_for_serialization(config_map)
        return result

    def event(
        self, regarding: Object, type_: str, reason: str, note: str, *, now: datetime.datetime
    ) -> None:
        """An events.k8s.io/v1 Event about `regarding`, shown by `kubectl describe`."""
        meta = regarding["metadata"]
        body = client.EventsV1Event(
            # Named like the events kubectl shows: <object>.<unique suffix>.
            metadata=client.V1ObjectMeta(
                name=f"{meta['name']}.{uuid.uuid4().hex[:16]}", namespace=meta["namespace"]
            ),
            event_time=now,
            reporting_controller="voxgate.io/operator",
            reporting_instance="voxgate",
            action=reason,
            reason=reason,
            type=type_,
            note=note[:1024],
            regarding=client.V1ObjectReference(
                api_version=regarding["apiVersion"],
                kind=regarding["kind"],
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
            ),
        )
        self.writes += 1
        try:
            self.events.create_namespaced_event(meta["namespace"], body)
        except ApiException as error:
            # Events tell the story; status and the audit trail are the record. A lost Event
            # must not make the reconcile fail and run again.
            log.warning(
                "could not post event %s on %s: HTTP %s", reason, meta["name"], error.status
            )
