"""The Mutating- and ValidatingWebhookConfiguration the operator's webhook handlers expect.

One place for the paths, rules and operations, so a test, a benchmark or an install tool cannot
point the API server at a webhook with other rules than the handlers were written for. Every
webhook fails closed (failurePolicy Fail): when the operator cannot answer, nothing is admitted.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from voxgate import API_GROUP, API_VERSION

# The webhook ids, which are also the URL paths (https://<operator>:<port>/<id>).
MUTATE_REQUESTER = "mutate-requester"
VALIDATE_TRAININGJOB = "validate-trainingjob"
VALIDATE_DATAGRANT = "validate-datagrant"
DEFAULT_TIMEOUT_SECONDS = 10
NAMESPACE_LABEL = "kubernetes.io/metadata.name"

# webhook id (= URL path) -> (plurals, operations)
MUTATING: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    MUTATE_REQUESTER: (("trainingjobs", "datagrants"), ("CREATE", "UPDATE")),
}
VALIDATING: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    VALIDATE_TRAININGJOB: (("trainingjobs",), ("CREATE",)),
    VALIDATE_DATAGRANT: (("datagrants",), ("CREATE", "UPDATE")),
}
# Every path the operator answers; a call at any other path is refused (see unknown_webhook).
WEBHOOK_IDS = frozenset({*MUTATING, *VALIDATING})


class WebhookConfigError(ValueError):
    """The webhook client settings are unusable; the message names the field."""


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where the API server reaches the operator: a URL or a Service, and the CA to trust."""

    ca_bundle: bytes
    url: str = ""  # https://host:port, without the webhook path
    service_namespace: str = ""
    service_name: str = ""
    service_port: int = 443

    def __post_init__(self) -> None:
        if not self.ca_bundle.strip().startswith(b"-----BEGIN CERTIFICATE-----"):
            raise WebhookConfigError("ca_bundle must be PEM certificates")
        if bool(self.url) == bool(self.service_name):
            raise WebhookConfigError("exactly one of url and service_name must be set")
        if self.url and not self.url.startswith("https://"):
            raise WebhookConfigError(f"url must start with https://, got {self.url!r}")

    def client_config(self, path: str) -> dict[str, Any]:
        config: dict[str, Any] = {"caBundle": base64.b64encode(self.ca_bundle).decode("ascii")}
        if self.url:
            config["url"] = f"{self.url.rstrip('/')}/{path}"
        else:
            config["service"] = {
                "namespace": self.service_namespace,
                "name": self.service_name,
                "port": self.service_port,
                "path": f"/{path}",
            }
        return config


def webhook_configurations(
    endpoint: WebhookEndpoint,
    *,
    name: str = "voxgate",
    exclude_namespace: str,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(MutatingWebhookConfiguration, ValidatingWebhookConfiguration) as plain objects.

    The operator's own namespace is excluded so that a broken webhook can never block the
    operator's own objects there (its ledger and audit anchor are ConfigMaps, but be safe).
    """
    if not 1 <= timeout_seconds <= 30:
        raise WebhookConfigError(f"timeout_seconds must be 1..30, got {timeout_seconds}")

    def webhooks(table: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> list[Any]:
        return [
            {
                "name": f"{path}.{API_GROUP}",
                "clientConfig": endpoint.client_config(path),
                "rules": [
                    {
                        "apiGroups": [API_GROUP],
                        "apiVersions": [API_VERSION],
                        "resources": list(plurals),
                        "operations": list(operations),
                        "scope": "Namespaced",
                    }
                ],
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                "timeoutSeconds": timeout_seconds,
                "admissionReviewVersions": ["v1"],
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": NAMESPACE_LABEL,
                            "operator": "NotIn",
                            "values": [exclude_namespace],
                        }
                    ]
                },
            }
            for path, (plurals, operations) in table.items()
        ]

    mutating = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": f"{name}-mutating"},
        "webhooks": [{**w, "reinvocationPolicy": "Never"} for w in webhooks(MUTATING)],
    }
    validating = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": f"{name}-validating"},
        "webhooks": webhooks(VALIDATING),
    }
    return mutating, validating
