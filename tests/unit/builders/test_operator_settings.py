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
    assert settings.max_concurrent_admissions == 64
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
            "VOXGATE_MAX_CONCURRENT_ADMISSIONS": "16",
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
        max_concurrent_admissions=16,
        audit_path=Path("/audit/log.jsonl"),
        plaintext_size_limit="32Gi",
    )


def test_broker_url_follows_namespace_and_port_unless_set() -> None:
    settings = OperatorSettings.from_env({"VOXGATE_NAMESPACE": "vg", "VOXGATE_BROKER_PORT": "9443"})
    assert settings.broker_url == "https://voxgate-broker.vg.svc:9443"


def test_empty_variables_keep_the_default() -> None:
    assert OperatorSettings.from_env({"VOXGATE_BROKER_PORT": ""}).broker_port == 8443


ADMISSIONS = "VOXGATE_MAX_CONCURRENT_ADMISSIONS"


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
        ("VOXGATE_MAX_CONCURRENT_ADMISSIONS", "many", f"{ADMISSIONS} must be an integer"),
        ("VOXGATE_MAX_CONCURRENT_ADMISSIONS", "0", f"{ADMISSIONS} must be 1..256"),
        ("VOXGATE_MAX_CONCURRENT_ADMISSIONS", "257", f"{ADMISSIONS} must be 1..256"),
        ("VOXGATE_PLAINTEXT_SIZE_LIMIT", "8 GB", "VOXGATE_PLAINTEXT_SIZE_LIMIT must be a quantity"),
        ("VOXGATE_WATCH_HEARTBEAT_SECONDS", "0", "VOXGATE_WATCH_HEARTBEAT_SECONDS must be a fin"),
        ("VOXGATE_WATCH_SILENCE_SECONDS", "nan", "VOXGATE_WATCH_SILENCE_SECONDS must be a finite"),
        # One late beat must not restart the pod: the silence allows at least three.
        ("VOXGATE_WATCH_SILENCE_SECONDS", "50", "VOXGATE_WATCH_SILENCE_SECONDS (50) must be at le"),
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


def test_leader_election_defaults_and_variables() -> None:
    settings = OperatorSettings.from_env({})
    assert settings.leader_election is True
    assert settings.leader_lease_name == "voxgate-operator"
    assert (
        settings.leader_lease_duration_seconds,
        settings.leader_renew_deadline_seconds,
        settings.leader_retry_period_seconds,
    ) == (15, 10.0, 2.0)
    assert settings.replica == ""

    settings = OperatorSettings.from_env(
        {
            "VOXGATE_LEADER_ELECTION": "false",
            "VOXGATE_LEADER_LEASE_NAME": "vg-operator",
            "VOXGATE_LEADER_LEASE_DURATION_SECONDS": "30",
            "VOXGATE_LEADER_RENEW_DEADLINE_SECONDS": "20",
            "VOXGATE_LEADER_RETRY_PERIOD_SECONDS": "4.5",
            "POD_NAME": "voxgate-1",
        }
    )
    assert settings == OperatorSettings(
        leader_election=False,
        leader_lease_name="vg-operator",
        leader_lease_duration_seconds=30,
        leader_renew_deadline_seconds=20.0,
        leader_retry_period_seconds=4.5,
        replica="voxgate-1",
    )


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"VOXGATE_LEADER_ELECTION": "maybe"}, "VOXGATE_LEADER_ELECTION must be true or false"),
        ({"VOXGATE_LEADER_LEASE_NAME": "Voxgate_Op"}, "VOXGATE_LEADER_LEASE_NAME must be a DNS"),
        (
            {"VOXGATE_LEADER_LEASE_DURATION_SECONDS": "1.5"},
            "VOXGATE_LEADER_LEASE_DURATION_SECONDS must be an integer",
        ),
        (
            {"VOXGATE_LEADER_RENEW_DEADLINE_SECONDS": "20"},
            "VOXGATE_LEADER_RENEW_DEADLINE_SECONDS (20) must be less than lease_duration_seconds",
        ),
        (
            {"VOXGATE_LEADER_RETRY_PERIOD_SECONDS": "9"},
            "VOXGATE_LEADER_RENEW_DEADLINE_SECONDS (10) must be more than 1.2 x retry_period",
        ),
        ({"POD_NAME": "Voxgate 0"}, "POD_NAME must be a pod name"),
    ],
)
def test_bad_leader_election_values_name_the_variable(
    variables: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=r"^[^\n]+$") as raised:
        OperatorSettings.from_env(variables)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("text", ["true", "TRUE", "1", "yes", "on"])
def test_leader_election_accepts_the_usual_spellings_of_true(text: str) -> None:
    assert OperatorSettings.from_env({"VOXGATE_LEADER_ELECTION": text}).leader_election is True
