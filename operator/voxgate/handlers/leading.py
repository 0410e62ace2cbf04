"""`voxgate operator run`: two kopf operators in one process, the second only while leading.

    front        every replica, from the start: webhooks and their indexes, the key broker,
                 audit anchoring, /healthz. The webhook and broker Services stay served by all
                 replicas, so a leader hand-over never makes `kubectl apply` fail.
    reconcilers  only while this replica holds the leader Lease (voxgate.leadership): resource
                 handlers and daemons. Started after `acquire()`; when the Lease is lost they
                 are stopped and the process exits non-zero, so the pod restarts as a standby
                 (client-go's and controller-runtime's rule: never keep acting once unsure).

A clean shutdown (SIGTERM) stops the reconcilers first, then releases the Lease, so a standby
takes over at once instead of after the lease duration. Both operators share one memo: the
reconcilers use the Operator value the front's start-up built.

Why not a kopf start-up handler that waits for the Lease: kopf serves webhooks and /healthz
only after every start-up handler returned, so a standby would serve nothing and be restarted
by its probes. Why not kopf peering: peers of the same priority all pause, which is no election.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable
from typing import Any

import kopf

from voxgate.handlers import registries
from voxgate.handlers.runtime import api_client
from voxgate.leadership import LeaderElector
from voxgate.settings import OperatorSettings

log = logging.getLogger(__name__)

EXIT_LOST_LEADERSHIP = 3


async def run(liveness_endpoint: str | None) -> int:
    """Run until a signal (0), a failed operator (1) or lost leadership (3)."""
    settings = OperatorSettings.from_env(os.environ)
    front_registry, reconciler_registry = registries()
    memo = kopf.Memo()
    front_ready, front_stop = asyncio.Event(), asyncio.Event()
    front = asyncio.create_task(
        kopf.operator(
            registry=front_registry,
            clusterwide=True,
            standalone=True,
            liveness_endpoint=liveness_endpoint,
            memo=memo,
            ready_flag=front_ready,
            stop_flag=front_stop,
        ),
        name="voxgate front",
    )
    elector = (
        LeaderElector.from_settings(api_client(), settings) if settings.leader_election else None
    )
    reconcilers: asyncio.Task[Any] | None = None
    reconcilers_stop = asyncio.Event()
    try:
        if not await _unless_done(front, front_ready.wait()):
            return 1 if _failed(front) else 0
        if elector is not None:
            log.info("standby: waiting for the leader Lease as %s", elector.identity)
            if not await _unless_done(front, elector.acquire()):
                return 1 if _failed(front) else 0
            log.info("leading as %s: starting the reconcilers", elector.identity)
        reconcilers = asyncio.create_task(
            kopf.operator(
                registry=reconciler_registry,
                clusterwide=True,
                standalone=True,
                memo=memo,
                stop_flag=reconcilers_stop,
            ),
            name="voxgate reconcilers",
        )
        lost = asyncio.create_task(
            elector.lost.wait() if elector is not None else asyncio.Event().wait()
        )
        done, _ = await asyncio.wait({front, reconcilers, lost}, return_when="FIRST_COMPLETED")
        lost.cancel()
        if lost in done:
            log.error("leadership lost: stopping the reconcilers and exiting")
            return EXIT_LOST_LEADERSHIP
        return 1 if _failed(front) or _failed(reconcilers) else 0
    finally:
        # The reconcilers stop before the Lease goes, and the Lease goes before the front stops:
        # the next leader never overlaps with this one, and webhooks are served to the end.
        if reconcilers is not None:
            reconcilers_stop.set()
            await _settled(reconcilers)
        if elector is not None and not elector.lost.is_set() and elector.is_leader:
            with contextlib.suppress(Exception):
                await elector.release()
        front_stop.set()
        await _settled(front)


async def _unless_done(task: asyncio.Task[Any], waiting: Awaitable[Any]) -> bool:
    """Await `waiting` unless `task` ends first; True if `waiting` finished."""
    waiter = asyncio.ensure_future(waiting)
    done, _ = await asyncio.wait({task, waiter}, return_when="FIRST_COMPLETED")
    if waiter in done:
        waiter.result()  # raises what it raised
        return True
    waiter.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    return False


def _failed(task: asyncio.Task[Any]) -> bool:
    if not task.done() or task.cancelled():
        return False
    error = task.exception()
    if error is not None:
        log.error("%s failed: %r", task.get_name(), error)
    return error is not None


async def _settled(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(BaseException):
        await task
