"""The broker's JSON messages, the object views and the audit records (pure)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from voxgate.audit.scrub import DETAIL_KEYS
from voxgate.broker.audit import audit_subject, refused_details, released_details
from voxgate.broker.client import RetryPolicy
from voxgate.broker.decision import Grant, Subject
from voxgate.broker.reasons import Reason
from voxgate.broker.views import (
    BadObjectRef,
    DatasetView,
    ObjectRef,
    TokenReview,
    TrainingJobView,
    parse_time,
)
from voxgate.broker.wire import (
    BadKeyRequest,
    KeyRequest,
    keys_from_json,
    keys_to_json,
    refusal_from_json,
)
from voxgate.keys.model import KekRef
from voxgate.sealed.dek import DekRequest, WrappedDek

SHARD_A, SHARD_B = "a" * 32, "b" * 32
DIGEST = "sha256:" + "0" * 64


def request_json(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "dataset": "speech-data/calls",
        "datasetId": "calls",
        "manifestDigest": DIGEST,
        "kekId": "calls-kek",
        "kekVersion": 2,
        "wrappedKeys": [
            {"shard": SHARD_A, "wrapped": base64.b64encode(bytes(60)).decode()},
            {"shard": SHARD_B, "wrapped": base64.b64encode(bytes(range(60))).decode()},
        ],
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def test_a_dek_request_round_trips_through_json() -> None:
    dek_request = DekRequest(
        "calls", DIGEST, KekRef("calls-kek", 2), (WrappedDek(SHARD_A, bytes(60)),)
    )
    wire = KeyRequest.for_dek_request(ObjectRef("speech-data", "calls"), dek_request)
    text = json.dumps(wire.to_json())
    assert KeyRequest.from_json(json.loads(text)) == wire
    assert json.loads(text)["wrappedKeys"] == [
        {"shard": SHARD_A, "wrapped": base64.b64encode(bytes(60)).decode()}
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dataset": "calls"}, "is not NAMESPACE/NAME"),
        ({"dataset": None}, "dataset is missing"),
        ({"datasetId": "Calls"}, "not a lowercase DNS name"),
        ({"manifestDigest": "sha256:xyz"}, "manifestDigest"),
        ({"kekId": "Bad_Kek"}, "kekId"),
        ({"kekVersion": 0}, "kekVersion"),
        ({"kekVersion": True}, "kekVersion"),
        ({"kekVersion": "2"}, "kekVersion"),
        ({"wrappedKeys": []}, "non-empty list"),
        ({"wrappedKeys": [{"shard": SHARD_A}]}, "{shard, wrapped}"),
        ({"wrappedKeys": [{"shard": "x", "wrapped": "AA=="}]}, "32 lowercase hex"),
        ({"wrappedKeys": [{"shard": SHARD_A, "wrapped": "!!"}]}, "not base64"),
        ({"wrappedKeys": [{"shard": SHARD_A, "wrapped": "AAAA"}]}, "is not 60 bytes"),
        (
            {
                "wrappedKeys": [{"shard": SHARD_A, "wrapped": base64.b64encode(bytes(60)).decode()}]
                * 2
            },
            "listed twice",
        ),
        ({"token": "x"}, "unknown fields ['token']"),
    ],
)
def test_a_malformed_request_is_refused_with_what_is_wrong(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(BadKeyRequest) as caught:
        KeyRequest.from_json(request_json(**changes))
    assert message in str(caught.value)


def test_a_request_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(BadKeyRequest, match="not a JSON object"):
        KeyRequest.from_json([request_json()])


def test_keys_answer_round_trips_and_must_match_the_request() -> None:
    deks = {SHARD_A: bytearray(range(32)), SHARD_B: bytearray(32)}
    answer = json.loads(json.dumps(keys_to_json(deks)))
    assert keys_from_json(answer, {SHARD_A, SHARD_B}) == deks
    with pytest.raises(BadKeyRequest, match="lacks keys for 1 shards"):
        keys_from_json(answer, {SHARD_A, SHARD_B, "c" * 32})
    with pytest.raises(BadKeyRequest, match="not asked for"):
        keys_from_json(answer, {SHARD_A})
    answer["keys"][0]["dek"] = base64.b64encode(bytes(16)).decode()
    with pytest.raises(BadKeyRequest, match="not 32 bytes"):
        keys_from_json(answer, {SHARD_A, SHARD_B})


def test_refusal_answers_are_read_defensively() -> None:
    assert refusal_from_json({"reason": "JobNotLive", "message": "not\nlive"}) == (
        "JobNotLive",
        "not live",
    )
    assert refusal_from_json({"reason": "no spaces allowed", "message": "x"}) is None
    assert refusal_from_json(["JobNotLive"]) is None


def test_object_refs_and_service_account_usernames() -> None:
    assert ObjectRef.parse("speech-data/calls") == ObjectRef("speech-data", "calls")
    for bad in ("calls", "/calls", "Speech/calls", "a/b/c"):
        with pytest.raises(BadObjectRef):
            ObjectRef.parse(bad)
    review = TokenReview(True, "system:serviceaccount:team-asr:asr-1-trainer")
    assert review.service_account() == ObjectRef("team-asr", "asr-1-trainer")
    assert TokenReview(True, "system:node:worker-1").service_account() is None
    assert TokenReview(True, "system:serviceaccount:BAD:x").service_account() is None
    assert review.bound_pod() is None


def test_views_tolerate_malformed_objects() -> None:
    job = TrainingJobView.from_object(
        {
            "metadata": {"namespace": "team-asr", "name": "asr-1", "uid": "u"},
            "spec": {"datasetRef": {"name": "calls"}},
            "status": {"phase": "Running", "credentialsExpireAt": "soon"},
        }
    )
    assert job.dataset == ObjectRef("team-asr", "calls")  # namespace defaults to the job's
    assert job.credentials_expire_at is None
    assert TrainingJobView.from_object({"spec": "garbage"}).dataset is None
    dataset = DatasetView.from_object({"metadata": {"namespace": "d", "name": "n"}})
    assert (dataset.kek_name, dataset.kek_provider, dataset.manifest_digest) == (
        None,
        "Secret",
        None,
    )


def test_timestamps_must_carry_a_zone() -> None:
    assert parse_time("2030-01-01T00:00:00Z") == datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_time("2030-01-01T00:00:00.5+01:00") == datetime(
        2029, 12, 31, 23, 0, 0, 500000, tzinfo=UTC
    )
    assert parse_time("2030-01-01T00:00:00") is None
    assert parse_time(17) is None


def test_audit_details_use_only_allowed_keys_and_no_secrets() -> None:
    subject = Subject(
        ObjectRef("team-asr", "asr-1-trainer"), "asr-1-0", ObjectRef("team-asr", "asr-1"), "uid-1"
    )
    grant = Grant(
        subject,
        ObjectRef("speech-data", "calls"),
        "calls",
        KekRef("calls-kek", 2),
        "Secret",
        DIGEST,
        (WrappedDek(SHARD_A, bytes(60)),),
        datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=5),
    )
    released = released_details(grant)
    refused = refused_details(Reason.JOB_NOT_LIVE, subject, KeyRequest.from_json(request_json()))
    assert set(released) <= DETAIL_KEYS and set(refused) <= DETAIL_KEYS
    assert released["shards"] == 1 and released["kekVersion"] == 2
    assert refused["reason"] == "JobNotLive"
    assert audit_subject(subject) == {
        "kind": "TrainingJob",
        "namespace": "team-asr",
        "name": "asr-1",
        "uid": "uid-1",
    }
    assert audit_subject(Subject(ObjectRef("team-asr", "x")))["kind"] == "ServiceAccount"
    assert audit_subject(Subject()) == {}
    text = json.dumps([released, refused])
    assert base64.b64encode(bytes(60)).decode() not in text


def test_retry_delays_double_up_to_the_cap() -> None:
    assert RetryPolicy(attempts=1).delays() == []
    assert RetryPolicy(attempts=6, first_delay_seconds=1, max_delay_seconds=5).delays() == [
        1,
        2,
        4,
        5,
        5,
    ]
