"""The webhook settings: off unless both files are set, port and steward group from VOXGATE_*."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxgate.settings import OperatorSettings, SettingsError


def test_webhooks_are_off_by_default() -> None:
    settings = OperatorSettings.from_env({})
    assert not settings.webhooks_enabled
    assert settings.webhook_port == 9443
    assert settings.webhook_address == "0.0.0.0"  # noqa: S104 - the default under test
    assert settings.steward_group == "voxgate-stewards"


def test_webhook_variables_are_read() -> None:
    settings = OperatorSettings.from_env(
        {
            "VOXGATE_WEBHOOK_CERT_FILE": "/tls/tls.crt",
            "VOXGATE_WEBHOOK_KEY_FILE": "/tls/tls.key",
            "VOXGATE_WEBHOOK_PORT": "10250",
            "VOXGATE_WEBHOOK_ADDRESS": "127.0.0.1",
            "VOXGATE_STEWARD_GROUP": "data-stewards",
        }
    )
    assert settings.webhooks_enabled
    assert settings.webhook_cert_file == Path("/tls/tls.crt")
    assert settings.webhook_key_file == Path("/tls/tls.key")
    assert settings.webhook_port == 10250
    assert settings.webhook_address == "127.0.0.1"
    assert settings.steward_group == "data-stewards"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VOXGATE_WEBHOOK_CERT_FILE": "/tls/tls.crt"}, "VOXGATE_WEBHOOK_KEY_FILE must be set"),
        ({"VOXGATE_WEBHOOK_KEY_FILE": "/tls/tls.key"}, "VOXGATE_WEBHOOK_CERT_FILE must be set"),
        ({"VOXGATE_WEBHOOK_PORT": "0"}, "VOXGATE_WEBHOOK_PORT must be 1..65535"),
        ({"VOXGATE_WEBHOOK_PORT": "https"}, "VOXGATE_WEBHOOK_PORT must be an integer"),
        ({"VOXGATE_WEBHOOK_ADDRESS": "a b"}, "VOXGATE_WEBHOOK_ADDRESS must be an IP"),
        ({"VOXGATE_STEWARD_GROUP": "  "}, "VOXGATE_STEWARD_GROUP must not be empty"),
    ],
)
def test_bad_webhook_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=r"^[^\n]+$") as raised:
        OperatorSettings.from_env(env)
    assert str(raised.value).startswith(message)
