"""Watch liveness: each replica writes a heartbeat and must see it come back through its watches.

A watch can stop delivering events without an error (a connection dropped by a middlebox that the
client never notices, a watcher task that died). Silence on the objects voxgate watches proves
nothing, since a quiet cluster is silent too. So every replica patches `spec.beatAt` on an
OperatorHeartbeat of its own (named after its pod) every interval, and each of its kopf
operators (the front, and the reconcilers while leading) records, through its own watch of those
objects, the newest beat that came back. When one of them has seen none for `tolerance`, the
liveness probe fails and Kubernetes restarts the pod.

The beat carries the writer's own clock and is compared with the same clock, so node clock skew
does not matter. kopf's own per-stream inactivity timeout (bookmarks) recycles one silent stream;
this catches what that cannot: watches that stay silent after reconnecting.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from voxgate import API_GROUP, API_VERSION


class WatchSilent(RuntimeError):
    """No heartbeat came back through the watch in time."""


@dataclass
class Heartbeat:
    tolerance: datetime.timedelta
    started: datetime.datetime
    last_seen: datetime.datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def seen(self, at: datetime.datetime) -> None:
        with self._lock:
            if self.last_seen is None or at > self.last_seen:
                self.last_seen = at

    def check(self, now: datetime.datetime) -> float:
        """Seconds since the last beat came back; raises WatchSilent past the tolerance."""
        with self._lock:
            reference = self.last_seen or self.started
        silence = (now - reference).total_seconds()
        if silence > self.tolerance.total_seconds():
            raise WatchSilent(f"no heartbeat through the watch for {silence:.0f}s")
        return silence


# -- writing the beats (I/O) -------------------------------------------------------------------

HEARTBEAT_PLURAL = "operatorheartbeats"
# A process outside a pod (no POD_NAME) beats under this name.
UNNAMED_REPLICA = "voxgate-operator"


def heartbeat_name(replica: str) -> str:
    """The OperatorHeartbeat a replica writes: its pod's name."""
    return replica or UNNAMED_REPLICA


def parse_beat(body: Mapping[str, Any]) -> datetime.datetime | None:
    """When the beat in an OperatorHeartbeat was written (None if it carries none we can read)."""
    text = (body.get("spec") or {}).get("beatAt")
    if not isinstance(text, str):
        return None
    try:
        at = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


class HeartbeatWriter:
    """Writes this replica's OperatorHeartbeat: merge-patched each beat, created the first time."""

    def __init__(
        self, api_client: client.ApiClient, namespace: str, name: str, interval: float
    ) -> None:
        self.api = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self.name = name
        self.interval = interval

    def beat(self, now: datetime.datetime) -> None:
        spec = {"beatAt": now.isoformat(), "intervalSeconds": max(1, round(self.interval))}
        # A beat that takes longer than the interval is no use: the next one is due.
        timeout = self.interval
        try:
            self.api.patch_namespaced_custom_object(
                API_GROUP,
                API_VERSION,
                self.namespace,
                HEARTBEAT_PLURAL,
                self.name,
                {"spec": spec},
                _request_timeout=timeout,
            )
            return
        except ApiException as error:
            if error.status != HTTPStatus.NOT_FOUND:
                raise
        body = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "OperatorHeartbeat",
            "metadata": {"name": self.name, "labels": {"app.kubernetes.io/managed-by": "voxgate"}},
            "spec": spec,
        }
        self.api.create_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, HEARTBEAT_PLURAL, body, _request_timeout=timeout
        )
