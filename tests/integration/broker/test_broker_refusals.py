"""Everything the key broker must refuse, against the real API server and real tokens."""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes import client
from prometheus_client import REGISTRY

from voxgate.broker.client import BrokerRefused, BrokerTlsError, BrokerUnreachable
from voxgate.broker.views import JOB_LABEL, JOB_UID_ANNOTATION, ObjectRef
from voxgate.broker.wire import KeyRequest
from voxgate.cli.main import main
from voxgate.keys.provider import KekProvider
from voxgate.sealed.dek import DekRequest
from voxgate.sealed.manifest import public_key_b64
from voxgate.sealed.seal import MANIFEST_NAME

if TYPE_CHECKING:  # fixtures come from conftest.py; only their types are imported here
    from tests.integration.broker.conftest import BrokerPki, RunningBroker, StartBroker, World

pytestmark = pytest.mark.integration


def refused_total(reason: str) -> float:
    value = REGISTRY.get_sample_value("voxgate_credentials_refused_total", {"reason": reason})
    return value or 0.0


def refusal(
    world: World, broker: RunningBroker, token: str, ca: Path, dataset: ObjectRef | None = None
) -> tuple[int, str]:
    """Ask with the client for the dataset's keys; it must be refused: (status, reason)."""
    provider = world.provider(broker, token, ca, dataset=dataset)
    with pytest.raises(BrokerRefused) as caught:
        provider.fetch(DekRequest.for_manifest(world.manifest))
    assert str(caught.value).startswith(f"key broker refused ({caught.value.status} ")
    return caught.value.status, caught.value.reason


def fetch(world: World, broker: RunningBroker, token: str, ca: Path) -> None:
    deks = world.provider(broker, token, ca).fetch(DekRequest.for_manifest(world.manifest))
    assert len(deks) == len(world.manifest.shards)


def post(
    broker: RunningBroker, ca: Path, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """A raw HTTPS request, for what the client would never send."""
    context = ssl.create_default_context(cafile=str(ca))
    connection = http.client.HTTPSConnection("127.0.0.1", broker.server.port, context=context)
    try:
        connection.request("POST", "/v1/keys", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.fixture
def broker(world: World, start_broker: StartBroker) -> RunningBroker:
    return start_broker(world.operator_ns)


def test_a_token_for_another_audience_is_401(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0", audience="https://kubernetes.default.svc")
    before = refused_total("InvalidToken")
    assert refusal(world, broker, token, broker_pki.ca) == (401, "InvalidToken")
    assert refused_total("InvalidToken") == before + 1
    event, subject, details = broker.audit.records[-1]
    assert (event, subject) == ("credentials.refused", {})
    assert details["reason"] == "InvalidToken" and details["dataset"] == str(world.dataset)


def test_a_service_account_that_is_no_jobs_identity_is_403(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    world.job("asr-1")
    world.service_account("notebook", world.team_ns)
    world.pod("notebook-0", world.team_ns, "notebook", {})
    token = world.token("notebook", pod="notebook-0")
    assert refusal(world, broker, token, broker_pki.ca) == (403, "NotATrainingJobIdentity")
    _, subject, _ = broker.audit.records[-1]
    assert subject == {"kind": "ServiceAccount", "namespace": world.team_ns, "name": "notebook"}


def test_another_namespaces_look_alike_service_account_is_403(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    job = world.job("asr-1")
    other_ns = world.new_namespace("other")
    # A perfect copy of the job's identity, in a namespace where no such job lives.
    labels, annotations = {JOB_LABEL: "asr-1"}, {JOB_UID_ANNOTATION: job["metadata"]["uid"]}
    world.service_account("asr-1-trainer", other_ns, labels, annotations)
    world.pod("asr-1-0", other_ns, "asr-1-trainer", labels)
    token = world.token("asr-1-trainer", other_ns, pod="asr-1-0")
    assert refusal(world, broker, token, broker_pki.ca) == (403, "TrainingJobNotFound")


@pytest.mark.parametrize("phase", ["Pending", "Denied", "Revoked", "Succeeded", "Failed"])
def test_a_job_that_is_not_admitted_or_running_is_403(
    world: World, broker: RunningBroker, broker_pki: BrokerPki, phase: str
) -> None:
    world.job("asr-1", phase=phase)
    token = world.token("asr-1-trainer", pod="asr-1-0")
    assert refusal(world, broker, token, broker_pki.ca) == (403, "JobNotLive")


def test_a_job_revoked_after_a_release_is_refused_at_the_next_request(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    fetch(world, broker, token, broker_pki.ca)
    world.set_job_status("asr-1", phase="Revoked")
    assert refusal(world, broker, token, broker_pki.ca) == (403, "JobNotLive")


def test_credentials_past_their_expiry_are_403(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    world.job("asr-1", expires_in=timedelta(seconds=-1))
    token = world.token("asr-1-trainer", pod="asr-1-0")
    assert refusal(world, broker, token, broker_pki.ca) == (403, "CredentialsExpired")


def eventually_invalid(world: World, broker: RunningBroker, token: str, ca: Path) -> None:
    """Wait for the API server itself to stop accepting `token` (its TokenReview answers are
    cached for 10 s after a success); every answer meanwhile must be a refusal too."""
    deadline = time.monotonic() + 30
    while (answer := refusal(world, broker, token, ca)) != (401, "InvalidToken"):
        assert answer[0] == 403
        assert time.monotonic() < deadline, "the API server kept accepting the token"
        time.sleep(0.5)


def test_a_deleted_service_accounts_token_is_refused_at_once_even_replayed(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    job = world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    fetch(world, broker, token, broker_pki.ca)
    world.core.delete_namespaced_service_account("asr-1-trainer", world.team_ns)
    # kube-apiserver still reports the token authenticated for up to 10 s (it caches successful
    # reviews); the broker's own read of the ServiceAccount refuses it right away.
    assert refusal(world, broker, token, broker_pki.ca) == (403, "NotATrainingJobIdentity")
    # An account re-created under the same name has a new uid: the old token stays dead.
    labels, annotations = {JOB_LABEL: "asr-1"}, {JOB_UID_ANNOTATION: job["metadata"]["uid"]}
    world.service_account("asr-1-trainer", world.team_ns, labels, annotations)
    assert refusal(world, broker, token, broker_pki.ca) == (403, "NotATrainingJobIdentity")
    eventually_invalid(world, broker, token, broker_pki.ca)


def test_a_token_whose_pod_was_deleted_is_refused(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    # TokenRequest will not issue tokens that expire in under 600 s, and waiting that long is
    # no test. A projected token is bound to its pod: once the pod is gone the API server
    # treats the token as expired. That is also how a finished worker's token dies for real.
    world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    fetch(world, broker, token, broker_pki.ca)
    world.core.delete_namespaced_pod("asr-1-0", world.team_ns, grace_period_seconds=0)
    # Refused at once by the broker's read of the pod, then by TokenReview itself.
    assert refusal(world, broker, token, broker_pki.ca) == (403, "PodNotOfJob")
    eventually_invalid(world, broker, token, broker_pki.ca)


def test_a_token_bound_to_no_pod_or_to_a_pod_outside_the_job_is_403(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    world.job("asr-1")
    unbound = world.token("asr-1-trainer")
    assert refusal(world, broker, unbound, broker_pki.ca) == (403, "TokenNotPodBound")
    # A pod someone started by hand with the job's account, but not as one of its workers.
    world.pod("debug", world.team_ns, "asr-1-trainer", {})
    stray = world.token("asr-1-trainer", pod="debug")
    assert refusal(world, broker, stray, broker_pki.ca) == (403, "PodNotOfJob")


def test_another_dataset_than_the_jobs_is_403(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    world.job("asr-1")
    clinic = world.seal("clinic", world.tmp / "sealed-clinic")
    world.publish_dataset("clinic", clinic.digest())
    token = world.token("asr-1-trainer", pod="asr-1-0")
    provider = world.provider(
        broker, token, broker_pki.ca, dataset=ObjectRef(world.data_ns, "clinic")
    )
    with pytest.raises(BrokerRefused) as caught:
        provider.fetch(DekRequest.for_manifest(clinic))
    assert (caught.value.status, caught.value.reason) == (403, "WrongDataset")


def test_another_datasets_wrapped_keys_do_not_unwrap_under_the_jobs_dataset(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    # Both datasets share a KEK; what keeps them apart is the dataset id in each key's AAD.
    world.job("asr-1")
    clinic = world.seal("clinic", world.tmp / "sealed-clinic")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    honest = DekRequest.for_manifest(world.manifest)
    smuggled = DekRequest(
        "calls", honest.manifest_digest, honest.kek, DekRequest.for_manifest(clinic).shards
    )
    body = json.dumps(KeyRequest.for_dek_request(world.dataset, smuggled).to_json()).encode()
    status, answer = post(broker, broker_pki.ca, body, {"Authorization": f"Bearer {token}"})
    assert (status, answer["reason"]) == (422, "KeyUnwrapFailed")
    assert set(answer) == {"reason", "message"}
    # Claiming the other dataset's id instead is refused before any unwrapping.
    renamed = DekRequest("clinic", honest.manifest_digest, honest.kek, smuggled.shards)
    body = json.dumps(KeyRequest.for_dek_request(world.dataset, renamed).to_json()).encode()
    status, answer = post(broker, broker_pki.ca, body, {"Authorization": f"Bearer {token}"})
    assert (status, answer["reason"]) == (403, "WrongDataset")


def test_a_manifest_other_than_the_verified_one_is_403(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    world.job("asr-1")
    world.set_dataset_digest("calls", "sha256:" + "0" * 64)
    token = world.token("asr-1-trainer", pod="asr-1-0")
    assert refusal(world, broker, token, broker_pki.ca) == (403, "ManifestMismatch")


def test_requests_without_a_token_or_with_a_broken_body(
    world: World,
    broker: RunningBroker,
    broker_pki: BrokerPki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    planted = "eyJhbGciOiJub25lIn0.PLANTED-TOKEN-MARKER.c2ln"
    body = json.dumps(
        KeyRequest.for_dek_request(world.dataset, DekRequest.for_manifest(world.manifest)).to_json()
    ).encode()
    status, answer = post(broker, broker_pki.ca, body, {})
    assert (status, answer["reason"]) == (401, "MissingToken")
    status, answer = post(broker, broker_pki.ca, body, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert (status, answer["reason"]) == (401, "MissingToken")
    status, answer = post(broker, broker_pki.ca, b"{", {"Authorization": "Bearer x.y.z"})
    assert (status, answer["reason"]) == (400, "BadRequest")
    status, answer = post(broker, broker_pki.ca, body, {"Authorization": f"Bearer {planted}"})
    assert (status, answer["reason"]) == (401, "InvalidToken")
    status, answer = post(broker, broker_pki.ca, b"[1]", {"Authorization": f"Bearer {planted}"})
    assert (status, answer["reason"]) == (400, "BadRequest")
    assert "refused a key request (InvalidToken)" in caplog.text
    assert "PLANTED-TOKEN-MARKER" not in caplog.text
    assert "PLANTED-TOKEN-MARKER" not in repr(broker.audit.records)


def test_an_unreachable_api_server_is_503_and_the_client_retries(
    world: World, start_broker: StartBroker, broker_pki: BrokerPki
) -> None:
    configuration = client.Configuration()
    configuration.host = "https://127.0.0.1:1"
    configuration.retries = False
    blind = start_broker(world.operator_ns, api_client=client.ApiClient(configuration))
    world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    provider = world.provider(blind, token, broker_pki.ca, attempts=3)
    with pytest.raises(BrokerRefused) as caught:
        provider.fetch(DekRequest.for_manifest(world.manifest))
    assert (caught.value.status, caught.value.reason) == (503, "BrokerUnavailable")
    assert [r[2]["reason"] for r in blind.audit.records] == ["BrokerUnavailable"] * 3


def test_no_keys_leave_when_the_audit_trail_fails(
    world: World, broker: RunningBroker, broker_pki: BrokerPki
) -> None:
    world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    broker.audit.fail = True
    assert refusal(world, broker, token, broker_pki.ca) == (503, "AuditUnavailable")
    broker.audit.fail = False
    fetch(world, broker, token, broker_pki.ca)


def test_a_broker_certificate_from_another_ca_is_a_one_line_error(
    world: World,
    broker: RunningBroker,
    broker_pki: BrokerPki,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    with pytest.raises(BrokerTlsError, match="certificate did not verify"):
        fetch(world, broker, token, broker_pki.other_ca)
    argv = [
        "unseal",
        "--broker",
        broker.url,
        "--token-file",
        str(world.token_file(token)),
        "--broker-ca",
        str(broker_pki.other_ca),
        "--dataset",
        str(world.dataset),
        "--manifest",
        str(world.sealed / MANIFEST_NAME),
        "--shards",
        str(world.sealed),
        "--out",
        str(world.tmp / "plain"),
        "--public-key",
        public_key_b64(world.signing.public_key()),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "certificate did not verify" in err and "--broker-ca" in err
    assert token not in err
    assert not (world.tmp / "plain").exists() or not any((world.tmp / "plain").iterdir())


def test_refusals_through_the_cli_show_status_and_reason_on_one_line(
    world: World,
    broker: RunningBroker,
    broker_pki: BrokerPki,
    capsys: pytest.CaptureFixture[str],
) -> None:
    world.job("asr-1", phase="Revoked")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    argv = [
        "unseal",
        "--broker",
        broker.url,
        "--token-file",
        str(world.token_file(token)),
        "--broker-ca",
        str(broker_pki.ca),
        "--dataset",
        str(world.dataset),
        "--manifest",
        str(world.sealed / MANIFEST_NAME),
        "--shards",
        str(world.sealed),
        "--out",
        str(world.tmp / "plain"),
        "--public-key",
        public_key_b64(world.signing.public_key()),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "voxgate: error: key broker refused (403 JobNotLive): "
        "the TrainingJob is not admitted or running\n"
    )


def test_a_stopped_broker_is_connection_refused(
    world: World, start_broker: StartBroker, broker_pki: BrokerPki
) -> None:
    broker = start_broker(world.operator_ns)
    world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    broker.stop()
    with pytest.raises(BrokerUnreachable, match="connection refused"):
        fetch(world, broker, token, broker_pki.ca)


def test_an_unexpected_error_is_a_503_that_logs_no_message(
    world: World,
    start_broker: StartBroker,
    broker_pki: BrokerPki,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def leaky_store(_provider: str) -> KekProvider:
        # A bug whose message quotes what it was handling.
        raise RuntimeError(f"cannot handle {world.tokens[-1]}")

    broker = start_broker(world.operator_ns, factory=leaky_store)
    world.job("asr-1")
    token = world.token("asr-1-trainer", pod="asr-1-0")
    caplog.set_level(logging.DEBUG)
    assert refusal(world, broker, token, broker_pki.ca) == (503, "BrokerUnavailable")
    assert "failed unexpectedly: RuntimeError at" in caplog.text
    assert token not in caplog.text and token.split(".")[-1] not in caplog.text
