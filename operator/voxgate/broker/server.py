"""The broker's HTTPS endpoint (aiohttp), served inside the operator process on its own port.

One request: check the bearer token and the body, gather the evidence from the API server (in a
worker thread: the kubernetes client is synchronous), decide with `authorize`, and only on a
Grant unwrap the DEKs with the dataset's KEK. Every answer is audited and counted. Tokens and
keys are never logged; refusals carry a reason code and a fixed message, nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from voxgate.broker.audit import (
    REFUSED,
    RELEASED,
    AuditSink,
    audit_subject,
    refused_details,
    released_details,
)
from voxgate.broker.decision import BrokerRules, Grant, Refusal, Subject, authorize
from voxgate.broker.evidence import ClusterReader, ClusterUnavailable, gather
from voxgate.broker.ratelimit import Limited, UnauthenticatedLimiter
from voxgate.broker.reasons import MESSAGE, STATUS, Reason
from voxgate.broker.views import AUDIENCE
from voxgate.broker.wire import (
    HEALTH_PATH,
    KEYS_PATH,
    MAX_BODY_BYTES,
    BadKeyRequest,
    KeyRequest,
    keys_to_json,
    refusal_to_json,
)
from voxgate.keys.errors import KeyStoreError, UnknownKek, UnknownKekVersion
from voxgate.keys.model import wipe
from voxgate.keys.provider import KekProvider
from voxgate.keys.secret_provider import KubernetesSecretProvider
from voxgate.metrics import CREDENTIALS_REFUSED, CREDENTIALS_RELEASED
from voxgate.privacy.ledger import EntryState, LedgerError
from voxgate.privacy.store import LedgerStore
from voxgate.sealed.dek import DekRequest, LocalDekProvider
from voxgate.sealed.errors import KeyUnwrapFailed

log = logging.getLogger("voxgate.broker")

# Takes SpeechDataset.spec.encryption.keyRef.provider ("Secret", "File"); returns the KEK store.
KekProviderFactory = Callable[[str], KekProvider]
Clock = Callable[[], datetime]
MAX_TOKEN_LENGTH = 16 * 1024


@dataclass(frozen=True)
class BrokerSettings:
    cert_file: Path
    key_file: Path
    # None: every interface, IPv4 and IPv6 (a pod serves on its pod IP; the NetworkPolicies
    # decide who may connect).
    host: str | None = None
    port: int = 8443
    audience: str = AUDIENCE
    require_pod_bound_token: bool = True
    max_body_bytes: int = MAX_BODY_BYTES
    # Certificates get renewed on disk (cert-manager, a rotated Secret): re-read them when they
    # change, checked this often; 0 disables.
    cert_reload_seconds: float = 60.0
    # Requests answered 401 (no token, a token TokenReview rejects) per client address: a burst
    # of this many, then this many per second, then 429 (voxgate.broker.ratelimit); 0 disables.
    unauthenticated_burst: int = 20
    unauthenticated_per_second: float = 0.5

    @property
    def rules(self) -> BrokerRules:
        return BrokerRules(self.audience, self.require_pod_bound_token)


def secret_kek_provider_factory(api_client: ApiClient, namespace: str) -> KekProviderFactory:
    """KEKs from Secrets in the operator's namespace, the only store a cluster broker serves."""

    def factory(provider: str) -> KekProvider:
        if provider != "Secret":
            raise KeyStoreError(f"the key broker serves KEKs from Secrets only, not {provider}")
        return KubernetesSecretProvider(api_client, namespace)

    return factory


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class BrokerServer:
    """A running broker; `port` is the bound port (useful with port 0). Stop it with close()."""

    runner: web.AppRunner
    port: int
    tls: ssl.SSLContext
    reloader: asyncio.Task[None] | None = field(default=None, repr=False)

    async def close(self) -> None:
        if self.reloader is not None:
            self.reloader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reloader
        await self.runner.cleanup()


async def serve_broker(
    settings: BrokerSettings,
    api_client: ApiClient,
    kek_provider_factory: KekProviderFactory,
    audit: AuditSink,
    *,
    clock: Clock = utc_now,
    ledger: LedgerStore | None = None,
) -> BrokerServer:
    """Start serving on settings.host:settings.port in the running event loop."""
    if settings.port == 0 and settings.host is None:
        # Each address family would get its own random port; BrokerServer.port names one.
        raise BrokerConfigError("broker port 0 (any free port) needs an explicit host")
    tls = server_tls_context(settings.cert_file, settings.key_file)
    broker = KeyBroker(
        ClusterReader(api_client, settings.audience),
        settings.rules,
        kek_provider_factory,
        audit,
        clock,
        limiter=_limiter(settings),
        # The operator passes its own store, so charges join its group commits.
        ledger=ledger or LedgerStore.from_api_client(api_client),
    )
    app = web.Application(client_max_size=settings.max_body_bytes)
    app.router.add_post(KEYS_PATH, broker.handle_keys)
    app.router.add_get(HEALTH_PATH, _healthy)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, ssl_context=tls)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    reloader = None
    if settings.cert_reload_seconds > 0:
        reloader = asyncio.create_task(
            _reload_certificates(
                tls, settings.cert_file, settings.key_file, settings.cert_reload_seconds
            )
        )
    server = BrokerServer(runner, int(runner.addresses[0][1]), tls, reloader)
    log.info("key broker listening on %s port %d", settings.host or "all interfaces", server.port)
    return server


class BrokerConfigError(ValueError):
    """The broker cannot start as configured (unreadable certificate, bad port...)."""


def _limiter(settings: BrokerSettings) -> UnauthenticatedLimiter:
    try:
        return UnauthenticatedLimiter(
            settings.unauthenticated_burst, settings.unauthenticated_per_second
        )
    except ValueError as error:
        raise BrokerConfigError(str(error)) from None


def server_tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (ssl.SSLError, OSError) as error:
        raise BrokerConfigError(
            f"cannot load the broker's TLS certificate {cert_file} and key {key_file}: "
            f"{_one_line(error)}"
        ) from None
    return context


class KeyBroker:
    def __init__(
        self,
        reader: ClusterReader,
        rules: BrokerRules,
        kek_provider_factory: KekProviderFactory,
        audit: AuditSink,
        clock: Clock,
        *,
        limiter: UnauthenticatedLimiter,
        ledger: LedgerStore,
    ) -> None:
        self.ledger = ledger
        self.reader = reader
        self.rules = rules
        self.kek_provider_factory = kek_provider_factory
        self.audit = audit
        self.clock = clock
        self.limiter = limiter

    async def handle_keys(self, http: web.Request) -> web.Response:
        # The peer address of the TLS connection; forwarding headers are the client's to forge.
        address = http.remote or "unknown"
        limited = self.limiter.check(address)
        if limited is not None:
            return await self._rate_limited(address, limited)
        response = await self._answer_safely(http)
        if response.status == 401:
            self.limiter.charge(address)
        return response

    async def _answer_safely(self, http: web.Request) -> web.Response:
        try:
            return await self._answer(http)
        except Exception as error:  # noqa: BLE001 - answered as a refusal, and logged
            # Never an aiohttp error page or a half-decided answer. Only the error's type and
            # where it happened are logged: a message (a pydantic validation error, say) may
            # quote the data it choked on, which can be the token.
            where = traceback.extract_tb(error.__traceback__)[-1]
            log.error(
                "key broker request failed unexpectedly: %s at %s:%d",
                type(error).__name__,
                Path(where.filename).name,
                where.lineno or 0,
            )
            return await self._refuse(Reason.BROKER_UNAVAILABLE, Subject(), None)

    async def _answer(self, http: web.Request) -> web.Response:
        token = _bearer_token(http.headers.get("Authorization", ""))
        if token is None:
            return await self._refuse(Reason.MISSING_TOKEN, Subject(), None)
        try:
            request = KeyRequest.from_json(json.loads(await http.read()))
        except (BadKeyRequest, ValueError, web.HTTPRequestEntityTooLarge) as error:
            log.info("refused a malformed key request: %s", _one_line(error))
            return await self._refuse(Reason.BAD_REQUEST, Subject(), None)
        try:
            evidence = await asyncio.to_thread(gather, self.reader, token, request)
        except ClusterUnavailable as error:
            log.warning("cannot decide a key request: %s", error)
            return await self._refuse(Reason.BROKER_UNAVAILABLE, Subject(), request)
        del token
        decision = authorize(
            evidence.review,
            evidence.service_account,
            evidence.training_job,
            evidence.dataset,
            request,
            now=self.clock(),
            pod=evidence.pod,
            rules=self.rules,
        )
        if isinstance(decision, Refusal):
            return await self._refuse(decision.reason, decision.subject, request)
        uncharged = await self._charge(decision)
        if uncharged is not None:
            return await self._refuse(uncharged, decision.subject, request)
        return await self._release(decision, request)

    async def _release(self, grant: Grant, request: KeyRequest) -> web.Response:
        try:
            deks = await asyncio.to_thread(self._unwrap, grant)
        except UnknownKekVersion:
            return await self._refuse(Reason.UNKNOWN_KEK_VERSION, grant.subject, request)
        except UnknownKek:
            return await self._refuse(Reason.UNKNOWN_KEK, grant.subject, request)
        except KeyUnwrapFailed:
            return await self._refuse(Reason.KEY_UNWRAP_FAILED, grant.subject, request)
        except (KeyStoreError, HTTPError, OSError) as error:
            log.warning("key store unavailable for %s: %s", grant.dataset, _one_line(error))
            return await self._refuse(Reason.KEY_STORE_UNAVAILABLE, grant.subject, request)
        try:
            try:
                await asyncio.to_thread(
                    self.audit.record,
                    RELEASED,
                    audit_subject(grant.subject),
                    released_details(grant, self.rules.audience),
                )
            except Exception as error:  # noqa: BLE001 - any failure of the sink means no record
                # No record, no keys: a release the trail does not show must not happen.
                log.error("audit trail refused a credentials record: %s", _one_line(error))
                return await self._refuse(Reason.AUDIT_UNAVAILABLE, grant.subject, request)
            body = keys_to_json(deks)
        finally:
            for dek in deks.values():
                wipe(dek)
        CREDENTIALS_RELEASED.inc()
        log.info(
            "released %d data keys of dataset %s to %s",
            len(grant.shards),
            grant.dataset,
            grant.subject.to_dict(),
        )
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    async def _charge(self, grant: Grant) -> Reason | None:
        """Charge the job's epsilon before any key leaves; the reason to refuse, if any.

        From the first release on, data may have been seen: the reservation must become a
        permanent charge now, not when the operator later sees a worker running (a job deleted
        in between would otherwise be refunded). Charging first errs on the side of privacy: a
        release that then fails has cost budget but leaked nothing. Charging an already charged
        entry changes nothing, so every worker's request may do it.
        """
        if not grant.charges_privacy:
            return None
        try:
            return await asyncio.to_thread(self._charge_entry, grant)
        except LedgerError as error:  # released (refunded) or settled: nothing live to charge
            log.warning("no charge for %s: %s", grant.subject.to_dict(), _one_line(error))
            return Reason.PRIVACY_NOT_RESERVED
        except (ApiException, HTTPError, OSError) as error:
            log.warning("ledger unavailable for %s: %s", grant.dataset, _one_line(error))
            return Reason.LEDGER_UNAVAILABLE

    def _charge_entry(self, grant: Grant) -> Reason | None:
        dataset = grant.dataset
        ledger = self.ledger.read(dataset.namespace, dataset.name)
        entry = ledger.entry(grant.job_uid) if ledger is not None else None
        if entry is None:
            return Reason.PRIVACY_NOT_RESERVED
        if entry.state == EntryState.CHARGED:
            return None
        self.ledger.charge(dataset.namespace, dataset.name, grant.job_uid, self.clock())
        try:
            self.audit.record(
                "ledger.charged",
                audit_subject(grant.subject),
                {"epsilon": entry.epsilon, "source": "key broker"},
            )
        except Exception as error:  # noqa: BLE001 - the charge stands; the release does not
            log.error("audit trail refused a ledger record: %s", _one_line(error))
            return Reason.AUDIT_UNAVAILABLE
        return None

    def _unwrap(self, grant: Grant) -> dict[str, bytearray]:
        keks = self.kek_provider_factory(grant.kek_provider)
        # The dataset id and KEK come from the grant (what the broker authorised), so wrapped
        # keys of any other dataset fail their AAD check instead of unwrapping.
        wanted = DekRequest(grant.dataset_id, grant.manifest_digest, grant.kek, grant.shards)
        return LocalDekProvider(keks).fetch(wanted)

    async def _rate_limited(self, address: str, limited: Limited) -> web.Response:
        reason = Reason.RATE_LIMITED
        CREDENTIALS_REFUSED.labels(reason=str(reason)).inc()
        if limited.first_of_burst:
            log.warning("rate-limiting unauthenticated key requests from %s", address)
            details = refused_details(reason, Subject(), None)
            details["message"] = (
                f"{address} sent more than {self.limiter.burst} unauthenticated requests; "
                "its refusals are not recorded one by one until it slows down"
            )
            await self._record_refusal(Subject(), details)
        headers = _challenge(reason)
        headers["Retry-After"] = str(limited.retry_after_seconds)
        return web.json_response(
            refusal_to_json(str(reason), MESSAGE[reason]), status=STATUS[reason], headers=headers
        )

    async def _refuse(
        self, reason: Reason, subject: Subject, request: KeyRequest | None
    ) -> web.Response:
        CREDENTIALS_REFUSED.labels(reason=str(reason)).inc()
        log.info("refused a key request (%s) from %s", reason, subject.to_dict() or "unknown")
        await self._record_refusal(subject, refused_details(reason, subject, request))
        return web.json_response(
            refusal_to_json(str(reason), MESSAGE[reason]),
            status=STATUS[reason],
            headers=_challenge(reason),
        )

    async def _record_refusal(self, subject: Subject, details: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(self.audit.record, REFUSED, audit_subject(subject), details)
        except Exception as error:  # noqa: BLE001 - the refusal stands even unrecorded
            log.error("audit trail refused a credentials record: %s", _one_line(error))


async def _healthy(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _bearer_token(header: str) -> str | None:
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    if not token.isascii() or any(c.isspace() for c in token):
        return None
    return token


def _challenge(reason: Reason) -> dict[str, str]:
    headers = {"Cache-Control": "no-store"}
    if STATUS[reason] == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="voxgate-broker"'
    elif STATUS[reason] == 503:
        headers["Retry-After"] = "5"
    return headers


def _one_line(error: BaseException) -> str:
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__


async def _reload_certificates(
    tls: ssl.SSLContext, cert_file: Path, key_file: Path, interval: float
) -> None:
    """Load renewed certificate files into the live context; new connections then use them."""
    seen = _stamp(cert_file, key_file)
    while True:
        await asyncio.sleep(interval)
        current = _stamp(cert_file, key_file)
        if current == seen or current is None:
            continue
        try:
            tls.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, OSError) as error:
            # Mid-renewal the pair may not match yet; keep serving the old one and look again.
            log.warning("cannot load renewed broker certificate: %s", _one_line(error))
            continue
        seen = current
        log.info("key broker certificate reloaded from %s", cert_file)


def _stamp(*paths: Path) -> tuple[tuple[int, int], ...] | None:
    try:
        stats = [p.stat() for p in paths]
    except OSError:
        return None
    return tuple((s.st_mtime_ns, s.st_size) for s in stats)


__all__ = [
    "AuditSink",
    "BrokerConfigError",
    "BrokerServer",
    "BrokerSettings",
    "KekProviderFactory",
    "secret_kek_provider_factory",
    "serve_broker",
]
