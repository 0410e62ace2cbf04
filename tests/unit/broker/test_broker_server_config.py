"""serve_broker() refuses a configuration it cannot serve with one clear line (no socket opened)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.client import ApiClient

from voxgate.broker.server import BrokerConfigError, BrokerSettings, serve_broker
from voxgate.devcluster import pki
from voxgate.keys.provider import KekProvider


class NoAudit:
    def record(self, event: str, subject: dict[str, object], details: dict[str, object]) -> None:
        raise AssertionError("nothing should be audited")


def no_keys(provider: str) -> KekProvider:
    raise AssertionError("no KEK should be read")


async def test_an_unreadable_certificate_is_a_one_line_error(tmp_path: Path) -> None:
    settings = BrokerSettings(tmp_path / "tls.crt", tmp_path / "tls.key", host="127.0.0.1")
    with pytest.raises(BrokerConfigError) as caught:
        await serve_broker(settings, ApiClient(), no_keys, NoAudit())
    message = str(caught.value)
    assert message.startswith(f"cannot load the broker's TLS certificate {tmp_path / 'tls.crt'}")
    assert "\n" not in message


async def test_a_key_that_does_not_match_the_certificate_is_refused(tmp_path: Path) -> None:
    ca = pki.new_ca(tmp_path, "ca", "ca")
    one = ca.issue(tmp_path, "one", "one", server_names=("127.0.0.1",))
    two = ca.issue(tmp_path, "two", "two", server_names=("127.0.0.1",))
    settings = BrokerSettings(one.cert_path, two.key_path, host="127.0.0.1", port=0)
    with pytest.raises(BrokerConfigError, match="cannot load the broker's TLS certificate"):
        await serve_broker(settings, ApiClient(), no_keys, NoAudit())


async def test_any_free_port_needs_an_explicit_host(tmp_path: Path) -> None:
    settings = BrokerSettings(tmp_path / "tls.crt", tmp_path / "tls.key", port=0)
    with pytest.raises(BrokerConfigError, match="needs an explicit host"):
        await serve_broker(settings, ApiClient(), no_keys, NoAudit())
