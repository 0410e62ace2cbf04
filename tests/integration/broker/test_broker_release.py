"""The key broker releases a live job's keys to its pod's projected token, and nothing leaks."""

from __future__ import annotations

import base64
import http.client
import logging
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client import REGISTRY

from voxgate.broker.client import BrokerRefused
from voxgate.cli.main import main
from voxgate.devcluster import pki
from voxgate.keys.secret_provider import KubernetesSecretProvider
from voxgate.privacy.ledger import Budget, EntryState, new_entry
from voxgate.privacy.params import DPSGDParams
from voxgate.privacy.store import LedgerStore
from voxgate.sealed.dek import DekRequest, LocalDekProvider
from voxgate.sealed.manifest import public_key_b64
from voxgate.sealed.seal import MANIFEST_NAME
from voxgate.sealed.unseal import UnsealOptions, unseal

if TYPE_CHECKING:  # fixtures come from conftest.py; only their types are imported here
    from tests.integration.broker.conftest import BrokerPki, RunningBroker, StartBroker, World

pytestmark = pytest.mark.integration


def released_total() -> float:
    return REGISTRY.get_sample_value("voxgate_credentials_released_total") or 0.0


def originals(world: World) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in world.corpus.iterdir()}


def unsealed(directory: Path) -> list[bytes]:
    return sorted(p.read_bytes() for p in directory.iterdir())


def test_a_live_jobs_projected_token_unseals_the_corpus_bit_exactly(
    world: World,
    start_broker: StartBroker,
    broker_pki: BrokerPki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = start_broker(world.operator_ns)
    job = world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    before = released_total()

    out = world.tmp / "plain"
    result = unseal(
        (world.sealed / MANIFEST_NAME).read_bytes(),
        world.signing.public_key(),
        world.provider(broker, token, broker_pki.ca),
        world.sealed,
        out,
        options=UnsealOptions(expected_dataset="calls"),
    )

    assert len(result.files) == 3
    assert unsealed(out) == sorted(originals(world).values())
    assert released_total() == before + 1
    event, subject, details = broker.audit.records[-1]
    assert event == "credentials.released"
    assert subject == {
        "kind": "TrainingJob",
        "namespace": world.team_ns,
        "name": "asr-1",
        "uid": job["metadata"]["uid"],
    }
    assert details["dataset"] == str(world.dataset)
    assert details["serviceAccount"] == f"{world.team_ns}/asr-1-trainer"
    assert (details["kekRef"], details["kekVersion"], details["shards"]) == (world.kek, 1, 3)
    assert details["manifestDigest"] == world.manifest.digest()

    # Neither the token nor any released key appears in a log line or an audit record.
    keks = KubernetesSecretProvider(world.api, world.operator_ns)
    deks = LocalDekProvider(keks).fetch(DekRequest.for_manifest(world.manifest))
    secrets = [token, token.split(".")[-1]]
    secrets += [base64.b64encode(dek).decode() for dek in deks.values()]
    secrets += [dek.hex() for dek in deks.values()]
    secrets.append(base64.b64encode(keks.get(world.kek, 1)).decode())
    assert "released 3 data keys" in caplog.text  # the logs were captured at all
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in repr(broker.audit.records)


def test_voxgate_unseal_with_broker_flags_as_the_init_container_runs_it(
    world: World,
    start_broker: StartBroker,
    broker_pki: BrokerPki,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broker = start_broker(world.operator_ns)
    world.job("asr-1", phase="Admitted")
    token_file = world.token_file(world.token("asr-1-trainer", pod="asr-1-0"))
    out = world.tmp / "plaintext"
    code = main(
        [
            "unseal",
            "--broker",
            broker.url,
            "--token-file",
            str(token_file),
            "--broker-ca",
            str(broker_pki.ca),
            "--dataset",
            str(world.dataset),
            "--manifest",
            str(world.sealed / MANIFEST_NAME),
            "--shards",
            str(world.sealed),
            "--out",
            str(out),
            "--public-key",
            public_key_b64(world.signing.public_key()),
            "--jobs",
            "1",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "unsealed 3 files" in capsys.readouterr().out
    assert unsealed(out) == sorted(originals(world).values())


def test_a_manifest_sealed_with_the_namespaced_id_is_served_too(
    world: World, start_broker: StartBroker, broker_pki: BrokerPki
) -> None:
    broker = start_broker(world.operator_ns)
    sealed = world.tmp / "sealed-namespaced"
    manifest = world.seal(str(world.dataset), sealed)
    world.set_dataset_digest("calls", manifest.digest())
    world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    out = world.tmp / "plain"
    unseal(
        (sealed / MANIFEST_NAME).read_bytes(),
        world.signing.public_key(),
        # No explicit dataset: the manifest's own id names the SpeechDataset.
        world.provider(broker, token, broker_pki.ca, dataset=None),
        sealed,
        out,
        options=UnsealOptions(expected_dataset=str(world.dataset)),
    )
    assert unsealed(out) == sorted(originals(world).values())


def test_an_unbound_token_is_accepted_only_when_the_broker_allows_it(
    world: World, start_broker: StartBroker, broker_pki: BrokerPki
) -> None:
    relaxed = start_broker(world.operator_ns, require_pod_bound_token=False)
    world.job("asr-1")
    token = world.token("asr-1-trainer")  # a bare TokenRequest, bound to no pod
    deks = world.provider(relaxed, token, broker_pki.ca).fetch(
        DekRequest.for_manifest(world.manifest)
    )
    assert sorted(deks) == sorted(s.id for s in world.manifest.shards)


def test_a_renewed_certificate_is_served_without_a_restart(
    world: World, start_broker: StartBroker, tmp_path: Path
) -> None:
    first_ca = pki.new_ca(tmp_path, "first-ca", "first")
    second_ca = pki.new_ca(tmp_path, "second-ca", "second")
    live = first_ca.issue(tmp_path / "live", "broker", "broker", server_names=("127.0.0.1",))
    broker = start_broker(
        world.operator_ns, cert_file=live.cert_path, key_file=live.key_path, cert_reload_seconds=0.1
    )
    assert healthy(broker, first_ca.files.cert_path)
    renewed = second_ca.issue(tmp_path / "new", "broker", "broker", server_names=("127.0.0.1",))
    # Written key first, then certificate, as a renewal would leave them in the end.
    live.key_path.write_bytes(renewed.key_path.read_bytes())
    live.cert_path.write_bytes(renewed.cert_path.read_bytes())
    deadline = time.monotonic() + 10
    while not healthy(broker, second_ca.files.cert_path):
        assert time.monotonic() < deadline, "the renewed certificate was never served"
        time.sleep(0.1)
    assert not healthy(broker, first_ca.files.cert_path)


def healthy(broker: RunningBroker, ca: Path) -> bool:
    """GET /healthz verifying the broker against `ca`; False when TLS verification fails."""
    context = ssl.create_default_context(cafile=str(ca))
    connection = http.client.HTTPSConnection("127.0.0.1", broker.server.port, context=context)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except ssl.SSLCertVerificationError:
        return False
    finally:
        connection.close()


DP = {
    "noiseMultiplier": 1.1,
    "sampleRate": 0.004,
    "steps": 100,
    "delta": 1.0e-5,
    "maxGradNorm": 1.0,
}


def reserve_for(world: World, job: dict[str, Any]) -> LedgerStore:
    store = LedgerStore.from_api_client(world.api)
    meta = job["metadata"]
    entry = new_entry(
        meta["uid"],
        job_namespace=meta["namespace"],
        job_name=meta["name"],
        grant="asr",
        params=DPSGDParams.from_spec(DP),
        at=datetime.now(UTC),
    )
    budget = Budget(10.0, 1.0e-5, {"asr": 10.0})
    store.reserve(world.dataset.namespace, world.dataset.name, entry, budget)
    return store


def ask(world: World, broker: RunningBroker, ca: Path, name: str) -> None:
    token = world.token(f"{name}-trainer", pod=f"{name}-0")
    world.provider(broker, token, ca).fetch(DekRequest.for_manifest(world.manifest))


def test_the_first_release_charges_the_jobs_reservation(
    world: World, start_broker: StartBroker, broker_pki: BrokerPki
) -> None:
    """Data seen is budget spent: the charge is made before any key leaves, once."""
    broker = start_broker(world.operator_ns)
    job = world.job("dp-1", privacy=DP)
    store = reserve_for(world, job)
    uid = job["metadata"]["uid"]

    ask(world, broker, broker_pki.ca, "dp-1")
    ask(world, broker, broker_pki.ca, "dp-1")  # a second worker: charged already, no change

    ledger = store.read(world.dataset.namespace, world.dataset.name)
    assert ledger is not None
    entry = ledger.entry(uid)
    assert entry is not None and entry.state == EntryState.CHARGED
    events = [event for event, subject, _ in broker.audit.records if subject.get("uid") == uid]
    assert events == ["ledger.charged", "credentials.released", "credentials.released"]


@pytest.mark.parametrize("reservation", ["none", "released"])
def test_a_dp_job_without_a_live_reservation_gets_no_keys(
    world: World, start_broker: StartBroker, broker_pki: BrokerPki, reservation: str
) -> None:
    broker = start_broker(world.operator_ns)
    job = world.job("dp-2", privacy=DP)
    if reservation == "released":
        store = reserve_for(world, job)
        store.release(
            world.dataset.namespace, world.dataset.name, job["metadata"]["uid"], datetime.now(UTC)
        )
    before = released_total()

    with pytest.raises(BrokerRefused) as refused:
        ask(world, broker, broker_pki.ca, "dp-2")

    assert (refused.value.status, refused.value.reason) == (403, "PrivacyNotReserved")
    assert released_total() == before
    assert broker.audit.records[-1][0] == "credentials.refused"
