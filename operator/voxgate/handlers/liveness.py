"""Watch liveness: heartbeats through each kopf operator's watches, checked by the liveness probe.

The front (every replica) writes this replica's OperatorHeartbeat and serves /healthz, whose
probe fails once any of this process's kopf operators has gone `watch_silence_seconds` without
seeing a beat come back through its watch (voxgate.reconcile.heartbeat says why this way).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import kopf
import urllib3
from kubernetes.client.exceptions import ApiException

from voxgate import API_GROUP, API_VERSION
from voxgate.handlers.runtime import api_client
from voxgate.reconcile.heartbeat import (
    HEARTBEAT_PLURAL,
    Heartbeat,
    HeartbeatWriter,
    WatchSilent,
    heartbeat_name,
    parse_beat,
)
from voxgate.settings import OperatorSettings

log = logging.getLogger(__name__)

FRONT, RECONCILERS = "front", "reconcilers"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def watching(memo: kopf.Memo, which: str, settings: OperatorSettings) -> None:
    """From now on, kopf operator `which` must see beats come back (called at its start-up)."""
    if "heartbeats" not in memo:
        memo.heartbeats = {}
    memo.heartbeat_name = heartbeat_name(settings.replica)
    memo.heartbeat_namespace = settings.namespace
    tolerance = datetime.timedelta(seconds=settings.watch_silence_seconds)
    memo.heartbeats[which] = Heartbeat(tolerance=tolerance, started=_now())


def start_beating(memo: kopf.Memo, settings: OperatorSettings) -> None:
    writer = HeartbeatWriter(
        api_client(),
        settings.namespace,
        heartbeat_name(settings.replica),
        settings.watch_heartbeat_seconds,
    )
    memo.heartbeating = asyncio.create_task(_beat_forever(writer))


def stop_beating(memo: kopf.Memo) -> None:
    task: asyncio.Task[None] | None = memo.get("heartbeating")
    if task is not None:
        task.cancel()


async def _beat_forever(writer: HeartbeatWriter) -> None:
    # A thread of its own: on the default executor a beat would queue behind the reconcilers'
    # API calls, and a busy operator would look like one whose watches went silent.
    thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="voxgate-heartbeat")
    loop = asyncio.get_running_loop()
    try:
        while True:
            # A missed beat is for the probe to judge; the loop goes on.
            try:
                await loop.run_in_executor(thread, writer.beat, _now())
            except ApiException as error:
                # The status only: a response body is not for the log.
                log.warning("heartbeat not written: the API server answered %s", error.status)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                log.warning("heartbeat not written: %s", type(error).__name__)
            await asyncio.sleep(writer.interval)
    finally:
        thread.shutdown(wait=False)


def _seen_by(which: str) -> Callable[..., Awaitable[None]]:
    async def heartbeat_seen(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
        meta = body["metadata"]
        if meta.get("name") != memo.get("heartbeat_name"):
            return
        if meta.get("namespace") != memo.get("heartbeat_namespace"):
            return
        at = parse_beat(body)
        beat: Heartbeat | None = memo.get("heartbeats", {}).get(which)
        if at is not None and beat is not None:
            beat.seen(at)

    return heartbeat_seen


async def watches_alive(memo: kopf.Memo, **_: Any) -> dict[str, float]:
    """Seconds since each kopf operator last saw a beat; raising makes /healthz answer 500."""
    now, silences = _now(), {}
    for which, beat in dict(memo.get("heartbeats", {})).items():
        try:
            silences[which] = round(beat.check(now), 1)
        except WatchSilent as error:
            log.error("%s watches are silent: %s", which, error)
            # Permanent: kopf would otherwise retry the probe handler instead of answering.
            raise kopf.PermanentError(f"{which} watches: {error}") from None
    return silences


async def _reconcilers_startup(memo: kopf.Memo, **_: Any) -> None:
    # The front's start-up has run by now (kopf runs one registry's start-up handlers in order,
    # and a separate reconcilers operator starts once the front is ready): its settings.
    watching(memo, RECONCILERS, memo.operator.settings)


async def _reconcilers_cleanup(memo: kopf.Memo, **_: Any) -> None:
    memo.get("heartbeats", {}).pop(RECONCILERS, None)


def register_front(registry: kopf.OperatorRegistry) -> None:
    """The front's watch of the heartbeats and the probe; start-up calls watching/start_beating."""
    kopf.on.event(
        API_GROUP, API_VERSION, HEARTBEAT_PLURAL, id=f"heartbeat-{FRONT}", registry=registry
    )(_seen_by(FRONT))
    kopf.on.probe(id="watches", registry=registry)(watches_alive)


def register_reconcilers(registry: kopf.OperatorRegistry) -> None:
    kopf.on.startup(id="heartbeat-reconcilers-start", registry=registry)(_reconcilers_startup)
    kopf.on.cleanup(id="heartbeat-reconcilers-stop", registry=registry)(_reconcilers_cleanup)
    kopf.on.event(
        API_GROUP, API_VERSION, HEARTBEAT_PLURAL, id=f"heartbeat-{RECONCILERS}", registry=registry
    )(_seen_by(RECONCILERS))
