"""The operator's webhook server answers only the paths it registered handlers for.

kopf itself runs no handler at an unknown path and allows the request; the wrapper refuses it
and never calls kopf's admission function. No processes: a stand-in server calls the function
the way kopf's WebhookServer does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import kopf

from voxgate.handlers.runtime import known_webhooks_only

KNOWN = frozenset({"validate-trainingjob"})
# As the server receives it: JSON text, decoded the way kopf's WebhookServer decodes it.
REVIEW = json.dumps(
    {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u1"}}
)


def serve_one(path: str) -> tuple[Any, list[str | None]]:
    """One request at `path` through the wrapped server: (the answer, the ids kopf was asked)."""
    asked: list[str | None] = []
    answers: list[Any] = []

    async def admission(request: Any, *, webhook: str | None = None, **_: Any) -> Any:
        asked.append(webhook)
        return {**request, "response": {"uid": "u1", "allowed": True}}

    async def server(fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        answers.append(await fn(json.loads(REVIEW), webhook=path, headers={}, sslpeer={}))
        yield kopf.WebhookClientConfig(url="https://127.0.0.1:9443")

    async def run() -> None:
        async for _config in known_webhooks_only(server, KNOWN)(admission):
            break

    asyncio.run(run())
    return answers[0], asked


def test_a_known_path_reaches_kopf() -> None:
    answer, asked = serve_one("validate-trainingjob")
    assert asked == ["validate-trainingjob"]
    assert answer["response"]["allowed"] is True


def test_an_unknown_path_is_refused_without_asking_kopf() -> None:
    for path in ("validate-everything", "", "validate-trainingjob/extra"):
        answer, asked = serve_one(path)
        assert asked == []
        assert answer["response"]["allowed"] is False
        assert answer["response"]["uid"] == "u1"
