"""Wiring the operator process: kopf settings and the one Operator value every handler uses."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import logging
import os
import sys
import warnings
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import aiohttp
import kopf
from kubernetes import client, config

from voxgate.admission import WEBHOOK_IDS, unknown_webhook
from voxgate.audit import Anchorer, AnchorError, AnchorStore, AuditTrail, FsyncPolicy, Subject
from voxgate.broker.server import (
    BrokerServer,
    BrokerSettings,
    secret_kek_provider_factory,
    serve_broker,
)
from voxgate.policy.client import PolicyClient
from voxgate.privacy.store import LedgerStore
from voxgate.reconcile.kube import BOOKKEEPING_FIELD, KubeGateway
from voxgate.reconcile.trainingjob import Operator
from voxgate.settings import OperatorSettings

log = logging.getLogger(__name__)

ANNOTATION_PREFIX = "voxgate.io"
ANCHOR_INTERVAL_SECONDS = 30.0
# Blocking API calls in flight at once (64 measured slower than 32 on the 2-core bench machine,
# where the API server shares the cores).
API_THREADS = 32
# kopf workers (one per object with pending events) alive at once. A worker keeps its slot while
# it waits for the echo of its own status write and then idles, so with 32 only 4 to 9 of them
# were running a reconcile pass in a burst (17 jobs/s); with 256 the burst bench measures 33 to 38
# (bench/results/operator-burst.json). The memory that many passes in flight leave behind is
# bounded by passes sharing one parsed ledger (privacy.store), a bounded kopf connection pool
# (KOPF_CONNECTIONS) and voxgate.heap.
WORKER_LIMIT = 256
ANCHOR_TICK_SECONDS = 5.0
RECONCILERS_FINALIZER = f"{ANNOTATION_PREFIX}/operator"
# Never added by the front (it has no handler that needs one); only its name has to differ.
FRONT_FINALIZER = f"{ANNOTATION_PREFIX}/front"


# TLS connections each kopf operator keeps to the API server. kopf's own session has no limit, so
# in a burst every worker patching at once opened one more (138 with 256 workers), each holding
# buffers (asyncio's 256 KiB SSL buffer alone) that the heap kept after the burst. The watch
# streams, one per watched kind, hold theirs for good: hence the margin over their count.
KOPF_CONNECTIONS = 32


async def bounded_login(**kwargs: Any) -> kopf.AiohttpSession | None:
    """kopf's own credentials (in-cluster or kubeconfig), in a session with a bounded pool."""
    info = kopf.login_via_client(**kwargs)
    if info is None:
        return None
    with warnings.catch_warnings():  # basic auth is deprecated, but it is the cluster's choice
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        auth = info.as_aiohttp_basic_auth()
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=KOPF_CONNECTIONS, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),
        auth=auth,
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return kopf.AiohttpSession(
        aiohttp_session=session,
        server=info.server,
        default_namespace=info.default_namespace,
        priority=info.priority,
        expiration=info.expiration,
    )


class LeanDiffBaseStorage(kopf.StatusDiffBaseStorage):
    """kopf's essence of an object (everything but metadata and status, plus labels and
    annotations), built without first deep-copying the parts kopf then throws away. kopf builds
    it for every watch event; copying managedFields and status along was the largest single cost
    in a py-spy profile of a 200-job burst (12% of the operator's CPU)."""

    def build(
        self,
        *,
        body: kopf.Body,
        extra_fields: Iterable[Any] | None = None,
    ) -> kopf.BodyEssence:
        if extra_fields:  # fields to keep from status or metadata: kopf's own way
            return super().build(body=body, extra_fields=extra_fields)
        metadata = body.get("metadata") or {}
        lean: dict[str, Any] = {k: v for k, v in body.items() if k not in ("metadata", "status")}
        lean["metadata"] = {k: metadata[k] for k in ("labels", "annotations") if k in metadata}
        return super().build(body=cast(kopf.Body, lean))


def configure(settings: kopf.OperatorSettings) -> None:
    # kopf's bookkeeping (handler progress, the last handled spec) lives in status.kopf, which
    # the CRDs declare: it then rides on the one status write a reconcile pass makes anyway,
    # where annotations would cost a second write per object (the write budget is children + 2).
    settings.persistence.progress_storage = kopf.StatusProgressStorage(
        field=f"status.{BOOKKEEPING_FIELD}.progress"
    )
    settings.persistence.diffbase_storage = LeanDiffBaseStorage(
        field=f"status.{BOOKKEEPING_FIELD}.lastHandledConfiguration"
    )
    # The reconcilers' finalizer (the daemons need one). A kopf operator removes its finalizer
    # from every object it watches where none of its own handlers needs it, so the front, which
    # watches grants and datasets for its indexes only, must not share the name: the two would
    # add and remove it in a loop (tests/integration/operator/test_two_replicas.py checks not).
    settings.persistence.finalizer = RECONCILERS_FINALIZER
    # voxgate posts its own Events with reasons users can act on; kopf's per-handler Events
    # would double every line in `kubectl describe`.
    settings.posting.enabled = False
    # A watch that silently stops delivering is the classic operator failure: reconnect often.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.execution.max_workers = 16
    settings.queueing.worker_limit = WORKER_LIMIT
    settings.queueing.idle_timeout = 0.5


class TrailSink:
    """The audit trail behind the reconcilers' small AuditSink interface."""

    def __init__(self, trail: AuditTrail, actor: str) -> None:
        self.trail = trail
        self.actor = actor

    def record(self, event: str, subject: Mapping[str, Any], details: Mapping[str, Any]) -> None:
        self.trail.record(
            event,
            self.actor,
            Subject(
                kind=str(subject.get("kind", "")),
                namespace=str(subject.get("namespace", "")),
                name=str(subject.get("name", "")),
                uid=str(subject.get("uid") or ""),
            ),
            details,
        )


def admission_server(settings: OperatorSettings) -> kopf.WebhookServerProtocol:
    """kopf's HTTPS server for the admission webhooks, or one that never listens.

    kopf refuses to run admission handlers without a server, so "off" is a server that waits
    forever; the API server then only calls webhooks that a WebhookConfiguration points at.
    """
    if settings.webhook_cert_file is None or settings.webhook_key_file is None:
        log.warning("admission webhooks are off: VOXGATE_WEBHOOK_CERT_FILE/KEY_FILE are unset")
        return _no_webhooks
    # kopf re-reads the files every minute and restarts the listener when they change, so a
    # renewed certificate (cert-manager, a rotated Secret) is picked up without a restart.
    server = kopf.WebhookServer(
        addr=settings.webhook_address,
        port=settings.webhook_port,
        certfile=settings.webhook_cert_file,
        pkeyfile=settings.webhook_key_file,
    )
    return known_webhooks_only(server, WEBHOOK_IDS)


def known_webhooks_only(
    server: kopf.WebhookServerProtocol, known: frozenset[str]
) -> kopf.WebhookServerProtocol:
    """`server`, answering a call at a path none of `known` names with a refusal.

    kopf runs the handlers whose id is the path; at any other path it runs none and allows the
    request (fail open). See voxgate.admission.unknown_webhook.
    """

    def serve(fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        async def guarded(
            request: Any, *, webhook: str | None = None, headers: Any = None, sslpeer: Any = None
        ) -> Any:
            if webhook not in known:
                log.warning("refused an admission call at unknown path /%.80s", webhook or "")
                return unknown_webhook(request, webhook)
            return await fn(request, webhook=webhook, headers=headers, sslpeer=sslpeer)

        return server(guarded)

    return serve


async def _no_webhooks(_fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
    await asyncio.Event().wait()
    yield kopf.WebhookClientConfig()  # never reached: the wait above does not end


def api_client() -> client.ApiClient:
    """In a pod: its ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(
            config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration
        )
    # One pooled connection per API thread: the default pool (5 per core) would make threads
    # past it open and drop a TLS connection per call.
    configuration.connection_pool_maxsize = API_THREADS + 4
    return client.ApiClient(configuration)


def api_executor() -> concurrent.futures.ThreadPoolExecutor:
    """The threads the reconcilers' blocking API calls run on (Operator.io).

    Reconcile passes spend their time waiting for the API server, not computing; asyncio's
    default pool (cores + 4 threads) would leave most of kopf's workers queueing for a thread
    while the API server idles.
    """
    return concurrent.futures.ThreadPoolExecutor(API_THREADS, thread_name_prefix="voxgate-api")


def build_operator(environ: Mapping[str, str] | None = None) -> tuple[Operator, Anchorer]:
    settings = OperatorSettings.from_env(
        os.environ if environ is None else environ
    ).with_broker_ca()
    api = api_client()
    settings.audit_path.parent.mkdir(parents=True, exist_ok=True)
    # One anchor per replica: each replica keeps its own trail (its own volume).
    anchors = AnchorStore.for_replica(api, settings.namespace, settings.replica)
    try:
        stored = anchors.read()
    except AnchorError as error:
        log.warning("audit anchor unreadable (%s); continuing without the truncation check", error)
        stored = None
    # With the stored anchor, a trail that was truncated or replaced is refused at start-up.
    trail = AuditTrail(
        Path(settings.audit_path),
        fsync=FsyncPolicy.INTERVAL,
        mirror=sys.stdout if os.environ.get("VOXGATE_AUDIT_STDOUT") == "1" else None,
        anchor=stored.head if stored else None,
    )
    operator = Operator(
        kube=KubeGateway(api),
        policy=PolicyClient(settings.opa_url, timeout=settings.policy_timeout_seconds),
        ledger=LedgerStore.from_api_client(api),
        settings=settings,
        audit=TrailSink(trail, "operator"),
    )
    return operator, Anchorer(trail, anchors, datetime.timedelta(seconds=ANCHOR_INTERVAL_SECONDS))


async def anchor_forever(anchorer: Anchorer) -> None:
    """Anchor the trail's head in the API server now and then, so truncation shows."""
    while True:
        try:
            await asyncio.to_thread(anchorer.tick)
        except AnchorError as error:
            log.warning("audit anchor not written: %s", error)
        await asyncio.sleep(ANCHOR_TICK_SECONDS)


async def start_broker(operator: Operator) -> BrokerServer | None:
    """The key broker in this process, when its certificate is configured."""
    settings = operator.settings
    if settings.broker_cert_file is None or settings.broker_key_file is None:
        log.warning("key broker is off: VOXGATE_BROKER_CERT_FILE/KEY_FILE are unset")
        return None
    api = operator.kube.api_client
    audit = operator.audit
    broker_audit = TrailSink(audit.trail, "broker") if isinstance(audit, TrailSink) else audit
    return await serve_broker(
        BrokerSettings(
            cert_file=settings.broker_cert_file,
            key_file=settings.broker_key_file,
            port=settings.broker_port,
        ),
        api,
        secret_kek_provider_factory(api, settings.namespace),
        broker_audit,
        ledger=operator.ledger,
    )
