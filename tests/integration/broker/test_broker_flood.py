"""A flood of unauthenticated key requests is rate-limited per address and audited once per
burst, against the real broker, API server and tokens."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import REGISTRY

from voxgate.broker.client import BrokerDekProvider, RetryPolicy
from voxgate.broker.wire import KeyRequest
from voxgate.sealed.dek import DekRequest

if TYPE_CHECKING:  # fixtures come from conftest.py; only their types are imported here
    from tests.integration.broker.conftest import BrokerPki, RunningBroker, StartBroker, World

pytestmark = pytest.mark.integration

FLOODER = "127.0.0.2"  # loopback answers every 127/8 address: a second client on this machine


def refused_total(reason: str) -> float:
    value = REGISTRY.get_sample_value("voxgate_credentials_refused_total", {"reason": reason})
    return value or 0.0


def post(
    broker: RunningBroker, ca: Path, world: World, token: str | None, source: str
) -> tuple[int, str, dict[str, str]]:
    """A key request for the world's dataset from `source`: (status, reason, headers)."""
    body = json.dumps(
        KeyRequest.for_dek_request(world.dataset, DekRequest.for_manifest(world.manifest)).to_json()
    ).encode()
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    context = ssl.create_default_context(cafile=str(ca))
    connection = http.client.HTTPSConnection(
        "127.0.0.1", broker.server.port, context=context, source_address=(source, 0)
    )
    try:
        connection.request("POST", "/v1/keys", body=body, headers=headers)
        response = connection.getresponse()
        answer: dict[str, Any] = json.loads(response.read())
        return response.status, str(answer.get("reason", "")), dict(response.getheaders())
    finally:
        connection.close()


def refusals(broker: RunningBroker) -> list[str]:
    return [details["reason"] for _, _, details in broker.audit.records]


def test_a_flood_without_valid_tokens_gets_429_and_one_audit_record_per_burst(
    world: World, start_broker: StartBroker, broker_pki: BrokerPki
) -> None:
    # A refill this slow cannot give the flooder a token back during the test.
    broker = start_broker(
        world.operator_ns, unauthenticated_burst=3, unauthenticated_per_second=0.001
    )
    world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    forged = "eyJhbGciOiJub25lIn0.e30.c2ln"
    limited_before = refused_total("RateLimited")

    answers = [post(broker, broker_pki.ca, world, t, FLOODER)[:2] for t in (None, forged, None)]
    assert answers == [(401, "MissingToken"), (401, "InvalidToken"), (401, "MissingToken")]
    for attempt in (None, forged, None, None, token):
        status, reason, headers = post(broker, broker_pki.ca, world, attempt, FLOODER)
        # Even a valid token waits: the address is refused before anything is looked up.
        assert (status, reason) == (429, "RateLimited")
        assert int(headers["Retry-After"]) >= 1
        assert headers["Cache-Control"] == "no-store"

    assert refusals(broker) == ["MissingToken", "InvalidToken", "MissingToken", "RateLimited"]
    assert FLOODER in broker.audit.records[-1][2]["message"]
    assert refused_total("RateLimited") - limited_before == 5

    # Another address is unaffected: the job's own request is served.
    status, reason, _ = post(broker, broker_pki.ca, world, token, "127.0.0.1")
    assert (status, reason) == (200, "")
    assert [event for event, _, _ in broker.audit.records][-1] == "credentials.released"


def test_authenticated_refusals_take_no_tokens(
    world: World, start_broker: StartBroker, broker_pki: BrokerPki
) -> None:
    broker = start_broker(
        world.operator_ns, unauthenticated_burst=2, unauthenticated_per_second=0.001
    )
    world.job("asr-2", phase="Denied")
    token = world.token("asr-2-trainer", pod="asr-2-0")
    for _ in range(4):
        status, reason, _ = post(broker, broker_pki.ca, world, token, FLOODER)
        assert (status, reason) == (403, "JobNotLive")
    assert refusals(broker) == ["JobNotLive"] * 4


def test_a_burst_of_zero_turns_the_limit_off(
    world: World, start_broker: StartBroker, broker_pki: BrokerPki
) -> None:
    broker = start_broker(world.operator_ns, unauthenticated_burst=0)
    statuses = [post(broker, broker_pki.ca, world, None, FLOODER)[0] for _ in range(25)]
    assert statuses == [401] * 25
    assert refusals(broker) == ["MissingToken"] * 25


def test_the_unseal_client_waits_out_a_rate_limit_on_its_address(
    world: World, start_broker: StartBroker, broker_pki: BrokerPki
) -> None:
    """A pod behind an address that someone else flooded gets 429 at first, then its keys."""
    broker = start_broker(world.operator_ns, unauthenticated_burst=2, unauthenticated_per_second=2)
    world.job("asr-3")
    token = world.token("asr-3-trainer", pod="asr-3-0")
    for _ in range(3):
        post(broker, broker_pki.ca, world, None, "127.0.0.1")
    assert post(broker, broker_pki.ca, world, token, "127.0.0.1")[:2] == (429, "RateLimited")

    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        time.sleep(seconds)

    provider = BrokerDekProvider(
        broker.url,
        world.token_file(token),
        dataset=world.dataset,
        ca_file=broker_pki.ca,
        retry=RetryPolicy(attempts=4, first_delay_seconds=0.6),
        sleep=pause,
    )
    keys = provider.fetch(DekRequest.for_manifest(world.manifest))
    assert set(keys) == {shard.id for shard in world.manifest.shards}
    assert pauses, "the first attempt should have met the rate limit and waited"
    assert [event for event, _, _ in broker.audit.records][-1] == "credentials.released"
