"""authorize(): the broker's decision, one changed fact per case against a request it grants."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from voxgate.broker.decision import BrokerRules, Grant, Refusal, Subject, authorize
from voxgate.broker.reasons import MESSAGE, STATUS, Reason
from voxgate.broker.views import (
    JOB_LABEL,
    JOB_UID_ANNOTATION,
    POD_NAME_EXTRA,
    POD_UID_EXTRA,
    DatasetView,
    ObjectRef,
    PodView,
    ServiceAccountView,
    TokenReview,
    TrainingJobView,
)
from voxgate.broker.wire import KeyRequest
from voxgate.keys.model import KekRef
from voxgate.sealed.dek import WrappedDek

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
JOB_UID = "0f6f8c1e-1111-4a5b-9c1d-000000000001"
DIGEST = "sha256:" + "ab" * 32


@dataclass(frozen=True)
class Case:
    review: TokenReview
    account: ServiceAccountView | None
    pod: PodView | None
    job: TrainingJobView | None
    dataset: DatasetView | None
    request: KeyRequest
    rules: BrokerRules = field(default_factory=BrokerRules)

    def decide(self) -> Grant | Refusal:
        return authorize(
            self.review,
            self.account,
            self.job,
            self.dataset,
            self.request,
            now=NOW,
            pod=self.pod,
            rules=self.rules,
        )


def granted() -> Case:
    review = TokenReview(
        authenticated=True,
        username="system:serviceaccount:team-asr:asr-1-trainer",
        uid="sa-uid",
        audiences=("voxgate-broker",),
        extra={POD_NAME_EXTRA: ("asr-1-0-abcde",), POD_UID_EXTRA: ("pod-uid",)},
    )
    account = ServiceAccountView(
        "team-asr",
        "asr-1-trainer",
        "sa-uid",
        {JOB_LABEL: "asr-1"},
        {JOB_UID_ANNOTATION: JOB_UID},
    )
    pod = PodView("team-asr", "asr-1-0-abcde", "pod-uid", "asr-1-trainer", {JOB_LABEL: "asr-1"})
    job = TrainingJobView(
        "team-asr",
        "asr-1",
        JOB_UID,
        "Running",
        NOW + timedelta(minutes=10),
        ObjectRef("speech-data", "calls"),
    )
    dataset = DatasetView(
        "speech-data", "calls", "calls-kek", "Secret", DIGEST, "Ready", NOW + timedelta(days=9)
    )
    request = KeyRequest(
        ObjectRef("speech-data", "calls"),
        "calls",
        DIGEST,
        KekRef("calls-kek", 3),
        (WrappedDek("0" * 32, bytes(60)),),
    )
    return Case(review, account, pod, job, dataset, request)


def test_a_live_jobs_pod_token_gets_the_datasets_keys() -> None:
    decision = granted().decide()
    assert isinstance(decision, Grant)
    assert decision.dataset == ObjectRef("speech-data", "calls")
    assert decision.dataset_id == "calls"
    assert decision.kek == KekRef("calls-kek", 3)
    assert decision.kek_provider == "Secret"
    assert decision.shards == (WrappedDek("0" * 32, bytes(60)),)
    assert decision.subject == Subject(
        ObjectRef("team-asr", "asr-1-trainer"),
        "asr-1-0-abcde",
        ObjectRef("team-asr", "asr-1"),
        JOB_UID,
    )
    assert decision.credentials_expire_at == NOW + timedelta(minutes=10)


def test_the_namespaced_dataset_id_is_granted_too() -> None:
    case = granted()
    case = replace(case, request=replace(case.request, dataset_id="speech-data/calls"))
    decision = case.decide()
    assert isinstance(decision, Grant) and decision.dataset_id == "speech-data/calls"


def test_admitted_is_live_and_no_digest_yet_is_accepted() -> None:
    case = granted()
    assert case.job is not None and case.dataset is not None
    case = replace(
        case,
        job=replace(case.job, phase="Admitted"),
        dataset=replace(case.dataset, manifest_digest=None),
    )
    assert isinstance(case.decide(), Grant)


def test_an_unbound_token_is_granted_only_when_the_rules_allow_it() -> None:
    case = granted()
    unbound = replace(case, review=replace(case.review, extra={}), pod=None)
    refused = unbound.decide()
    assert isinstance(refused, Refusal) and refused.reason is Reason.TOKEN_NOT_POD_BOUND
    relaxed = replace(unbound, rules=BrokerRules(require_pod_bound_token=False))
    assert isinstance(relaxed.decide(), Grant)


Change = Callable[[Case], Case]


def review(**changes: object) -> Change:
    return lambda c: replace(c, review=replace(c.review, **changes))  # type: ignore[arg-type]


def account(**changes: object) -> Change:
    def change(c: Case) -> Case:
        assert c.account is not None
        return replace(c, account=replace(c.account, **changes))  # type: ignore[arg-type]

    return change


def pod(**changes: object) -> Change:
    def change(c: Case) -> Case:
        assert c.pod is not None
        return replace(c, pod=replace(c.pod, **changes))  # type: ignore[arg-type]

    return change


def job(**changes: object) -> Change:
    def change(c: Case) -> Case:
        assert c.job is not None
        return replace(c, job=replace(c.job, **changes))  # type: ignore[arg-type]

    return change


def dataset(**changes: object) -> Change:
    def change(c: Case) -> Case:
        assert c.dataset is not None
        return replace(c, dataset=replace(c.dataset, **changes))  # type: ignore[arg-type]

    return change


def request(**changes: object) -> Change:
    return lambda c: replace(c, request=replace(c.request, **changes))  # type: ignore[arg-type]


def missing(what: str) -> Change:
    return lambda c: replace(c, **{what: None})  # type: ignore[arg-type]


REFUSALS: list[tuple[str, Change, Reason]] = [
    ("unauthenticated", review(authenticated=False), Reason.INVALID_TOKEN),
    (
        "another audience",
        review(audiences=("https://kubernetes.default.svc",)),
        Reason.WRONG_AUDIENCE,
    ),
    ("no audience reported", review(audiences=()), Reason.WRONG_AUDIENCE),
    (
        "a user, not a ServiceAccount",
        review(username="alice@example.org"),
        Reason.NOT_A_SERVICE_ACCOUNT,
    ),
    (
        "malformed SA username",
        review(username="system:serviceaccount:team-asr"),
        Reason.NOT_A_SERVICE_ACCOUNT,
    ),
    ("ServiceAccount gone", missing("account"), Reason.NOT_A_TRAINING_JOB_IDENTITY),
    ("ServiceAccount re-created", account(uid="other-uid"), Reason.NOT_A_TRAINING_JOB_IDENTITY),
    ("ServiceAccount without the label", account(labels={}), Reason.NOT_A_TRAINING_JOB_IDENTITY),
    ("ServiceAccount without the uid", account(annotations={}), Reason.NOT_A_TRAINING_JOB_IDENTITY),
    (
        "another namespace's account",
        account(namespace="team-tts"),
        Reason.NOT_A_TRAINING_JOB_IDENTITY,
    ),
    ("pod gone", missing("pod"), Reason.POD_NOT_OF_JOB),
    ("pod re-created", pod(uid="other"), Reason.POD_NOT_OF_JOB),
    ("pod of another account", pod(service_account="default"), Reason.POD_NOT_OF_JOB),
    ("pod without the job label", pod(labels={}), Reason.POD_NOT_OF_JOB),
    ("pod of another job", pod(labels={JOB_LABEL: "asr-2"}), Reason.POD_NOT_OF_JOB),
    ("job gone", missing("job"), Reason.TRAINING_JOB_NOT_FOUND),
    ("job under another name", job(name="asr-2"), Reason.TRAINING_JOB_NOT_FOUND),
    ("job re-created", job(uid="new-uid"), Reason.TRAINING_JOB_MISMATCH),
    ("job without uid", job(uid=""), Reason.TRAINING_JOB_MISMATCH),
    *[
        (f"job {p}", job(phase=p), Reason.JOB_NOT_LIVE)
        for p in ("Pending", "Denied", "Succeeded", "Failed", "Revoked", None)
    ],
    (
        "credentials expired",
        job(credentials_expire_at=NOW - timedelta(seconds=1)),
        Reason.CREDENTIALS_EXPIRED,
    ),
    ("credentials expire now", job(credentials_expire_at=NOW), Reason.CREDENTIALS_EXPIRED),
    ("no credential expiry", job(credentials_expire_at=None), Reason.CREDENTIALS_EXPIRED),
    ("job has no dataset", job(dataset=None), Reason.WRONG_DATASET),
    (
        "another dataset asked for",
        request(dataset=ObjectRef("speech-data", "clinic")),
        Reason.WRONG_DATASET,
    ),
    (
        "same name, other namespace",
        request(dataset=ObjectRef("other-data", "calls")),
        Reason.WRONG_DATASET,
    ),
    ("dataset gone", missing("dataset"), Reason.DATASET_NOT_FOUND),
    ("keys of another dataset id", request(dataset_id="clinic"), Reason.WRONG_DATASET),
    (
        "keys of another namespace's id",
        request(dataset_id="other-data/calls"),
        Reason.WRONG_DATASET,
    ),
    (
        "consent expired",
        dataset(consent_expires_at=NOW - timedelta(days=1)),
        Reason.CONSENT_EXPIRED,
    ),
    ("dataset phase Expired", dataset(phase="Expired"), Reason.CONSENT_EXPIRED),
    ("another manifest", request(manifest_digest="sha256:" + "cd" * 32), Reason.MANIFEST_MISMATCH),
    ("keys under another KEK", request(kek=KekRef("other-kek", 3)), Reason.KEK_MISMATCH),
    ("dataset without KEK", dataset(kek_name=None), Reason.KEK_MISMATCH),
]


@pytest.mark.parametrize(
    ("change", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_each_failed_check_refuses_with_its_reason(change: Change, reason: Reason) -> None:
    decision = change(granted()).decide()
    assert isinstance(decision, Refusal)
    assert decision.reason is reason
    assert decision.status == STATUS[reason] and decision.message == MESSAGE[reason]


def test_token_failures_are_401_and_identity_failures_403() -> None:
    assert {STATUS[r] for r in (Reason.INVALID_TOKEN, Reason.WRONG_AUDIENCE)} == {401}
    assert {
        STATUS[r]
        for r in (Reason.NOT_A_TRAINING_JOB_IDENTITY, Reason.JOB_NOT_LIVE, Reason.WRONG_DATASET)
    } == {403}
    assert set(STATUS) == set(MESSAGE) == set(Reason)


def test_an_unauthenticated_refusal_names_nobody() -> None:
    decision = review(authenticated=False)(granted()).decide()
    assert isinstance(decision, Refusal) and decision.subject.to_dict() == {}


def test_a_refusal_after_the_identity_names_the_job() -> None:
    decision = job(phase="Revoked")(granted()).decide()
    assert isinstance(decision, Refusal)
    assert decision.subject.to_dict() == {
        "serviceAccount": "team-asr/asr-1-trainer",
        "pod": "asr-1-0-abcde",
        "trainingJob": "team-asr/asr-1",
        "trainingJobUid": JOB_UID,
    }


def test_the_earliest_failed_check_wins() -> None:
    # Revoked job and wrong dataset at once: the job is checked first.
    case = request(dataset=ObjectRef("speech-data", "clinic"))(job(phase="Revoked")(granted()))
    decision = case.decide()
    assert isinstance(decision, Refusal) and decision.reason is Reason.JOB_NOT_LIVE


def test_a_refusal_message_reveals_nothing_about_the_objects() -> None:
    for reason in Reason:
        message = MESSAGE[reason]
        for secret in ("team-asr", "asr-1", "speech-data", "calls", JOB_UID, "sa-uid"):
            assert secret not in message
