"""The broker's decision: may this token have the keys of this request? Pure: no I/O, no clock.

The checks run in a fixed order and the first that fails is the answer. The evidence gatherer
(`evidence.py`) reads objects in the same order and stops reading once an earlier object rules
the request out, passing None for what it did not read; None always fails its check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voxgate.broker.reasons import MESSAGE, STATUS, Reason
from voxgate.broker.views import (
    AUDIENCE,
    JOB_LABEL,
    JOB_UID_ANNOTATION,
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

LIVE_PHASES = frozenset({"Admitted", "Running"})


@dataclass(frozen=True)
class BrokerRules:
    audience: str = AUDIENCE
    # Projected tokens (what a pod mounts) are bound to their pod; a token made with a bare
    # TokenRequest is not, and would let whoever may mint tokens for the job's ServiceAccount
    # fetch its keys outside the job's pods.
    require_pod_bound_token: bool = True


@dataclass(frozen=True)
class Subject:
    """Who asked, as far as the broker established it (for audit records and logs)."""

    service_account: ObjectRef | None = None
    pod: str | None = None
    job: ObjectRef | None = None
    job_uid: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found = {
            "serviceAccount": str(self.service_account) if self.service_account else None,
            "pod": self.pod,
            "trainingJob": str(self.job) if self.job else None,
            "trainingJobUid": self.job_uid,
        }
        return {key: value for key, value in found.items() if value is not None}


@dataclass(frozen=True)
class Grant:
    subject: Subject
    dataset: ObjectRef
    dataset_id: str  # what the wrapped keys are bound to; one of the dataset's two id forms
    kek: KekRef  # the dataset's KEK (never one the caller names) at the manifest's version
    kek_provider: str
    manifest_digest: str
    shards: tuple[WrappedDek, ...]
    credentials_expire_at: datetime
    job_uid: str = ""
    charges_privacy: bool = False  # charge the job's ledger entry before any key leaves


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    subject: Subject

    @property
    def status(self) -> int:
        return STATUS[self.reason]

    @property
    def message(self) -> str:
        return MESSAGE[self.reason]


def authorize(
    review: TokenReview,
    service_account: ServiceAccountView | None,
    training_job: TrainingJobView | None,
    dataset: DatasetView | None,
    request: KeyRequest,
    *,
    now: datetime,
    pod: PodView | None = None,
    rules: BrokerRules | None = None,
) -> Grant | Refusal:
    rules = rules or BrokerRules()
    subject = _identity(review, service_account, pod, rules)
    if isinstance(subject, Refusal):
        return subject
    reason = _job_reason(subject, training_job, now) or _dataset_reason(
        training_job, dataset, request, now
    )
    if reason is not None:
        return Refusal(reason, subject)
    # The checks above guarantee these; spelled out for the type checker.
    assert training_job is not None and training_job.credentials_expire_at is not None
    assert dataset is not None and dataset.kek_name is not None
    return Grant(
        subject=subject,
        dataset=dataset.ref,
        dataset_id=request.dataset_id,
        kek=KekRef(dataset.kek_name, request.kek.version),
        kek_provider=dataset.kek_provider,
        manifest_digest=request.manifest_digest,
        shards=request.shards,
        credentials_expire_at=training_job.credentials_expire_at,
        job_uid=training_job.uid,
        charges_privacy=training_job.charges_privacy,
    )


def _identity(
    review: TokenReview,
    service_account: ServiceAccountView | None,
    pod: PodView | None,
    rules: BrokerRules,
) -> Subject | Refusal:
    """Who holds the token: a TrainingJob's ServiceAccount (and pod), or a Refusal."""
    reason = _token_reason(review, rules)
    account = review.service_account()
    if reason is not None or account is None:
        return Refusal(reason or Reason.NOT_A_SERVICE_ACCOUNT, Subject())
    job_name = _job_of(service_account, account, review)
    if job_name is None or service_account is None:
        return Refusal(Reason.NOT_A_TRAINING_JOB_IDENTITY, Subject(service_account=account))
    job_ref = ObjectRef(account.namespace, job_name)
    job_uid = service_account.annotations[JOB_UID_ANNOTATION]
    bound = review.bound_pod()
    subject = Subject(account, bound[0] if bound else None, job_ref, job_uid)
    if bound is None and rules.require_pod_bound_token:
        return Refusal(Reason.TOKEN_NOT_POD_BOUND, subject)
    if bound is not None and not _pod_of_job(pod, bound, account, job_name):
        return Refusal(Reason.POD_NOT_OF_JOB, subject)
    return subject


def _token_reason(review: TokenReview, rules: BrokerRules) -> Reason | None:
    if not review.authenticated:
        return Reason.INVALID_TOKEN
    if rules.audience not in review.audiences:
        return Reason.WRONG_AUDIENCE
    if review.service_account() is None:
        return Reason.NOT_A_SERVICE_ACCOUNT
    return None


def _job_reason(subject: Subject, job: TrainingJobView | None, now: datetime) -> Reason | None:
    if job is None or subject.job != ObjectRef(job.namespace, job.name):
        return Reason.TRAINING_JOB_NOT_FOUND
    if not job.uid or job.uid != subject.job_uid:
        return Reason.TRAINING_JOB_MISMATCH
    if job.phase not in LIVE_PHASES:
        return Reason.JOB_NOT_LIVE
    if job.credentials_expire_at is None or job.credentials_expire_at <= now:
        return Reason.CREDENTIALS_EXPIRED
    return None


def _dataset_reason(
    job: TrainingJobView | None, dataset: DatasetView | None, request: KeyRequest, now: datetime
) -> Reason | None:
    if job is None or job.dataset != request.dataset:
        return Reason.WRONG_DATASET
    if dataset is None or dataset.ref != request.dataset:
        return Reason.DATASET_NOT_FOUND
    # A manifest names its dataset as NAME or NS/NAME; keys wrapped for any other id (another
    # dataset's) then fail to unwrap, because the id is part of each wrapped key's AAD.
    if request.dataset_id not in (str(dataset.ref), dataset.name):
        return Reason.WRONG_DATASET
    consent_end = dataset.consent_expires_at
    if dataset.phase == "Expired" or (consent_end is not None and consent_end <= now):
        return Reason.CONSENT_EXPIRED
    return _manifest_reason(dataset, request)


def _manifest_reason(dataset: DatasetView, request: KeyRequest) -> Reason | None:
    if dataset.manifest_digest is not None and dataset.manifest_digest != request.manifest_digest:
        return Reason.MANIFEST_MISMATCH
    if dataset.kek_name is None or dataset.kek_name != request.kek.id:
        return Reason.KEK_MISMATCH
    return None


def _job_of(
    service_account: ServiceAccountView | None, account: ObjectRef, review: TokenReview
) -> str | None:
    """The TrainingJob name the ServiceAccount claims, if it is that token's live account."""
    if service_account is None:
        return None
    if (service_account.namespace, service_account.name) != (account.namespace, account.name):
        return None
    # A ServiceAccount deleted and re-created under the same name has a new uid.
    if review.uid and service_account.uid != review.uid:
        return None
    job_name = service_account.labels.get(JOB_LABEL)
    if not job_name or not service_account.annotations.get(JOB_UID_ANNOTATION):
        return None
    return job_name


def _pod_of_job(
    pod: PodView | None, bound: tuple[str, str], account: ObjectRef, job_name: str
) -> bool:
    if pod is None:
        return False
    return (
        (pod.namespace, pod.name, pod.uid) == (account.namespace, *bound)
        and pod.service_account == account.name
        and pod.labels.get(JOB_LABEL) == job_name
    )
