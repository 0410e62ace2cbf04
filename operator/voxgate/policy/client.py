"""The policy client the operator, the webhook and the benchmarks use.

It asks a real OPA server through opa-python-client's async client and never raises: every error,
timeout, HTTP failure, undefined or malformed result becomes a PolicyUnavailable denial, because a
policy engine that cannot answer must not let anything through.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from opa_client.opa_async import AsyncOpaClient

from voxgate import metrics
from voxgate.policy.decision import Decision, MalformedDecision, parse_decision, unavailable

log = logging.getLogger(__name__)

DECISION_PACKAGE = "voxgate.admission"
DECISION_RULE = "decision"
DEFAULT_TIMEOUT_SECONDS = 2.0


class PolicyClient:
    """One long-lived connection pool to OPA; `decide` is safe to call concurrently."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OPA URL must be http(s)://host:port, got {url!r}")
        self.timeout = timeout
        self._opa = AsyncOpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 80),
            ssl=parts.scheme == "https",
            timeout=timeout,
            # No retries: a retry would only spend the caller's deadline; fail closed instead.
            retries=0,
        )
        self._started = False

    async def __aenter__(self) -> PolicyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._started:
            await self._opa.close_connection()
            self._started = False

    async def decide(self, document: dict[str, Any]) -> Decision:
        fallback_id = uuid.uuid4().hex
        begin = time.perf_counter()
        try:
            answer = await asyncio.wait_for(self._query(document), self.timeout)
        except Exception as error:  # noqa: BLE001 - fail closed on anything the query raises
            kind, reason = self._classify(error)
            return self._failed(kind, reason, fallback_id)
        finally:
            metrics.POLICY_QUERY_SECONDS.observe(time.perf_counter() - begin)
        decision_id = str(answer.get("decision_id") or fallback_id)
        revision = _revision(answer)
        if "result" not in answer:
            return self._failed("undefined", "the decision is undefined", decision_id, revision)
        try:
            return parse_decision(
                answer["result"], policy_revision=revision, decision_id=decision_id
            )
        except MalformedDecision as error:
            return self._failed("malformed", str(error), decision_id, revision)

    def _classify(self, error: Exception) -> tuple[str, str]:
        if isinstance(error, TimeoutError):
            return "timeout", f"no answer within {self.timeout:g}s"
        if isinstance(error, aiohttp.ClientResponseError):
            return "http", f"OPA answered HTTP {error.status}"
        if isinstance(error, aiohttp.ClientError | OSError):
            return "connection", f"cannot reach OPA ({type(error).__name__})"
        return "client", type(error).__name__

    async def _query(self, document: dict[str, Any]) -> dict[str, Any]:
        if not self._started:
            await self._opa.__aenter__()
            self._started = True
        answer: dict[str, Any] = await self._opa.query_rule(
            input_data=document,
            package_path=DECISION_PACKAGE,
            rule_name=DECISION_RULE,
            query_params={"provenance": True},
        )
        return answer

    def _failed(self, kind: str, reason: str, decision_id: str, revision: str = "") -> Decision:
        metrics.POLICY_ERRORS.labels(kind=kind).inc()
        log.warning("policy decision %s failed closed: %s", decision_id, reason)
        return unavailable(reason, policy_revision=revision, decision_id=decision_id)


def _revision(answer: dict[str, Any]) -> str:
    bundles = answer.get("provenance", {}).get("bundles", {})
    if not isinstance(bundles, dict):
        return ""
    revisions = sorted(str(b.get("revision", "")) for b in bundles.values() if isinstance(b, dict))
    return ",".join(r for r in revisions if r)
