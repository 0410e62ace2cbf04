"""Leader election through a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

Every replica serves the webhooks and the key broker, but only the leader reconciles, so two
replicas never create the same children or charge the same ledger twice. kopf's peering is not
used for this: peers of the same priority both pause, which is no election (docs/install.md,
"High availability").

The whole API, for the operator's start-up (no kopf here):

    elector = LeaderElector.from_settings(api_client, settings)
    await elector.acquire()   # returns once this replica holds the Lease; renews in the background
    ...                       # reconcile; exit the process as soon as elector.lost is set
    await elector.release()   # on a clean shutdown, after the work stopped: a standby takes over
                              # at once instead of waiting for the lease to expire

- `elector.lost` (asyncio.Event) is set when a renewal has failed for longer than the renew
  deadline, or the Lease turns out to be held by someone else. It is never cleared: do what
  controller-runtime does and exit, so the pod restarts and queues up as a standby.
- `elector.is_leader` says whether this replica may act as leader right now; it is computed from
  the clock, so it turns False at the renew deadline even if the event loop was stalled.
- `settings.leader_election` false means a single replica that never elects (no Lease at all).
- The identity is the pod's name (POD_NAME), else host name plus a random suffix; the timing is
  client-go's default (lease 15 s, renew deadline 10 s, retry 2 s) unless the settings say
  otherwise. The gauge `voxgate_leader` is 1 while this replica leads.

Where to wait: kopf starts its admission webhook server and its liveness endpoint only after
every startup handler has returned (kopf._core.reactor.running guards both on `started_flag`), so
a startup handler that blocks in acquire() would leave a standby with no webhooks, no /healthz
(the chart's startupProbe then restarts it) and, if the broker starts after it, no broker. Wait
for leadership where only the reconciling part waits, e.g. by starting the reconcile handlers
(their own kopf registry and kopf.operator()) after acquire() returns.

The parts: `decision` (pure: what to do about the Lease as read), `leases` (the Lease through the
kubernetes client, compare-and-swap writes), `elector` (asyncio), `timing`, `identity`.
"""

from __future__ import annotations

from voxgate.leadership.decision import (
    Action,
    Decision,
    LeaseRecord,
    Observation,
    claim,
    decide,
    released,
)
from voxgate.leadership.elector import LeaderElector, LeadershipLost
from voxgate.leadership.identity import default_identity
from voxgate.leadership.leases import LeaseConflict, LeaseError, LeaseStore
from voxgate.leadership.timing import ElectionTiming

__all__ = [
    "Action",
    "Decision",
    "ElectionTiming",
    "LeaderElector",
    "LeadershipLost",
    "LeaseConflict",
    "LeaseError",
    "LeaseRecord",
    "LeaseStore",
    "Observation",
    "claim",
    "decide",
    "default_identity",
    "released",
]
