"""The webhook configurations match the registered handlers and fail closed."""

from __future__ import annotations

import base64

import kopf
import pytest

import voxgate.handlers  # noqa: F401 - registers the webhook handlers with kopf
from voxgate.admission import (
    WEBHOOK_IDS,
    WebhookConfigError,
    WebhookEndpoint,
    webhook_configurations,
)

CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_every_webhook_points_at_a_handler_with_the_same_operations() -> None:
    endpoint = WebhookEndpoint(CA, url="https://127.0.0.1:9443")
    mutating, validating = webhook_configurations(endpoint, exclude_namespace="voxgate-system")
    registered = {
        (h.id, h.selector.any_name if h.selector else None): tuple(h.operations or ())
        for h in kopf.get_default_registry()._webhooks.get_all_handlers()
    }
    configured = {
        (w["name"].removesuffix(".voxgate.io"), plural): tuple(w["rules"][0]["operations"])
        for config in (mutating, validating)
        for w in config["webhooks"]
        for plural in w["rules"][0]["resources"]
    }
    assert configured == registered
    assert set(configured) == {
        ("mutate-requester", "trainingjobs"),
        ("mutate-requester", "datagrants"),
        ("validate-trainingjob", "trainingjobs"),
        ("validate-datagrant", "datagrants"),
    }
    # The paths the operator answers (any other is refused) are exactly the handlers' ids.
    assert {h.id for h in kopf.get_default_registry()._webhooks.get_all_handlers()} == WEBHOOK_IDS


def test_webhooks_fail_closed_and_skip_the_operator_namespace() -> None:
    endpoint = WebhookEndpoint(CA, url="https://127.0.0.1:9443/")
    mutating, validating = webhook_configurations(endpoint, exclude_namespace="vg")
    for config in (mutating, validating):
        for webhook in config["webhooks"]:
            path = webhook["name"].removesuffix(".voxgate.io")
            assert webhook["clientConfig"]["url"] == f"https://127.0.0.1:9443/{path}"
            assert base64.b64decode(webhook["clientConfig"]["caBundle"]) == CA
            assert webhook["failurePolicy"] == "Fail"
            assert webhook["timeoutSeconds"] == 10
            assert webhook["sideEffects"] == "None"
            assert webhook["namespaceSelector"]["matchExpressions"] == [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["vg"]}
            ]
    assert mutating["kind"] == "MutatingWebhookConfiguration"
    assert validating["kind"] == "ValidatingWebhookConfiguration"


def test_a_service_endpoint_gets_the_path_on_the_service() -> None:
    endpoint = WebhookEndpoint(
        CA, service_namespace="vg", service_name="voxgate-webhook", service_port=9443
    )
    mutating, _ = webhook_configurations(endpoint, exclude_namespace="vg")
    assert mutating["webhooks"][0]["clientConfig"]["service"] == {
        "namespace": "vg",
        "name": "voxgate-webhook",
        "port": 9443,
        "path": "/mutate-requester",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ca_bundle": b"nope", "url": "https://x"}, "ca_bundle must be PEM"),
        ({"ca_bundle": CA}, "exactly one of url and service_name"),
        ({"ca_bundle": CA, "url": "https://x", "service_name": "s"}, "exactly one of url"),
        ({"ca_bundle": CA, "url": "http://x"}, "url must start with https://"),
    ],
)
def test_bad_endpoints_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(WebhookConfigError, match=message):
        WebhookEndpoint(**kwargs)  # type: ignore[arg-type]


def test_timeout_is_bounded_by_the_api_server_limit() -> None:
    endpoint = WebhookEndpoint(CA, url="https://x")
    with pytest.raises(WebhookConfigError, match=r"timeout_seconds must be 1\.\.30"):
        webhook_configurations(endpoint, exclude_namespace="vg", timeout_seconds=31)
