"""OperatorSettings: defaults, VOXGATE_* variables, one-line errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxgate.settings import OperatorSettings, SettingsError

DIGEST = "@sha256:" + "b" * 64


def test_defaults() -> None:
    settings = OperatorSettings.from_env({})
    assert settings == OperatorSettings()
    assert settings.namespace == "voxgate-system"
    assert settings.image == "registry.example.org/voxgate/voxgate@sha256:" + "0" * 64
    assert settings.broker_port == 8443
    assert settings.broker_url == "https://voxgate-broker.voxgate-system.svc:8443"
    assert settings.opa_url == "http://127.0.0.1:8181"
    assert settings.policy_timeout_seconds == 2.0
    assert settings.audit_path == Path("/var/lib/voxgate/audit/audit.jsonl")
    assert settings.plaintext_size_limit == "8Gi"


def test_every_variable_is_read() -> None:
    settings = OperatorSettings.from_env(
        {
            "VOXGATE_NAMESPACE": "vg",
            "VOXGATE_IMAGE": "ghcr.io/acme/voxgate:1.2.3" + DIGEST,
            "VOXGATE_BROKER_URL": "https://broker.vg.svc:9443",
            "VOXGATE_BROKER_PORT": "9443",
            "VOXGATE_OPA_URL": "https://opa.vg.svc:8181",
            "VOXGATE_POLICY_TIMEOUT_SECONDS": "0.5",
            "VOXGATE_AUDIT_PATH": "/audit/log.jsonl",
            "VOXGATE_PLAINTEXT_SIZE_LIMIT": "32Gi",
            "UNRELATED": "ignored",
        }
    )
    assert settings == OperatorSettings(
        namespace="vg",
        image="ghcr.io/acme/voxgate:1.2.3" + DIGEST,
        broker_url="https://broker.vg.svc:9443",
        broker_port=9443,
        opa_url="https://opa.vg.svc:8181",
        policy_timeout_seconds=0.5,
        audit_path=Path("/audit/log.jsonl"),
        plaintext_size_limit="32Gi",
    )


def test_broker_url_follows_namespace_and_port_unless_set() -> None:
    settings = OperatorSettings.from_env({"VOXGATE_NAMESPACE": "vg", "VOXGATE_BROKER_PORT": "9443"})
    assert settings.broker_url == "https://voxgate-broker.vg.svc:9443"


def test_empty_variables_keep_the_default() -> None:
    assert OperatorSettings.from_env({"VOXGATE_BROKER_PORT": ""}).broker_port == 8443


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("VOXGATE_NAMESPACE", "Voxgate", "VOXGATE_NAMESPACE must be a DNS label"),
        ("VOXGATE_IMAGE", "ghcr.io/acme/voxgate:latest", "VOXGATE_IMAGE must be pinned by digest"),
        ("VOXGATE_BROKER_PORT", "https", "VOXGATE_BROKER_PORT must be an integer"),
        ("VOXGATE_BROKER_PORT", "70000", "VOXGATE_BROKER_PORT must be 1..65535"),
        ("VOXGATE_BROKER_URL", "http://broker:8443", "VOXGATE_BROKER_URL must be a https://"),
        ("VOXGATE_OPA_URL", "opa:8181", "VOXGATE_OPA_URL must be a http:// or https://"),
        ("VOXGATE_POLICY_TIMEOUT_SECONDS", "soon", "VOXGATE_POLICY_TIMEOUT_SECONDS must be a num"),
        ("VOXGATE_POLICY_TIMEOUT_SECONDS", "0", "VOXGATE_POLICY_TIMEOUT_SECONDS must be a finite"),
        (
            "VOXGATE_POLICY_TIMEOUT_SECONDS",
            "inf",
            "VOXGATE_POLICY_TIMEOUT_SECONDS must be a finite",
        ),
        ("VOXGATE_PLAINTEXT_SIZE_LIMIT", "8 GB", "VOXGATE_PLAINTEXT_SIZE_LIMIT must be a quantity"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=r"^[^\n]+$") as raised:
        OperatorSettings.from_env({name: value})
    assert str(raised.value).startswith(message)


def test_settings_are_frozen() -> None:
    settings = OperatorSettings()
    with pytest.raises(AttributeError):
        settings.namespace = "other"  # type: ignore[misc]
