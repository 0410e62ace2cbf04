"""Watch liveness: the operator writes a heartbeat and must see it come back through its watch.

A watch can stop delivering events without an error (a dropped connection that the client never
notices). Silence on the objects voxgate watches proves nothing, since a quiet cluster is silent
too, so the operator patches a heartbeat annotation on a ConfigMap of its own every interval and
its own watch of that ConfigMap records when the beat arrives. When no beat has come back for
`tolerance` seconds, the liveness probe fails and Kubernetes restarts the pod.
"""

from __future__ import annotations

import datetime
import threading
from dataclasses import dataclass, field

HEARTBEAT_CONFIG_MAP = "voxgate-heartbeat"
HEARTBEAT_ANNOTATION = "voxgate.io/heartbeat"


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
