"""Read what the decision needs from the API server (synchronous; the server runs it in a thread).

Nothing is cached: every request reviews its token and re-reads the ServiceAccount, the pod, the
TrainingJob and the dataset, so a revoked job or a deleted ServiceAccount is refused at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes.client import (
    ApiClient,
    AuthenticationV1Api,
    CoreV1Api,
    CustomObjectsApi,
    V1TokenReview,
    V1TokenReviewSpec,
)
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from voxgate.broker.views import (
    AUDIENCE,
    JOB_LABEL,
    DatasetView,
    ObjectRef,
    PodView,
    ServiceAccountView,
    TokenReview,
    TrainingJobView,
)
from voxgate.broker.wire import KeyRequest

GROUP, VERSION = "voxgate.io", "v1alpha1"


class ClusterUnavailable(RuntimeError):
    """The API server could not answer; the broker refuses rather than guess."""


@dataclass(frozen=True)
class Evidence:
    review: TokenReview
    service_account: ServiceAccountView | None = None
    pod: PodView | None = None
    training_job: TrainingJobView | None = None
    dataset: DatasetView | None = None


class ClusterReader:
    def __init__(self, api_client: ApiClient, audience: str = AUDIENCE) -> None:
        self.authn = AuthenticationV1Api(api_client)
        self.core = CoreV1Api(api_client)
        self.custom = CustomObjectsApi(api_client)
        self.audience = audience

    def review_token(self, token: str) -> TokenReview:
        body = V1TokenReview(spec=V1TokenReviewSpec(token=token, audiences=[self.audience]))
        answer = _call("review a token", lambda: self.authn.create_token_review(body))
        status = answer.status if answer is not None else None
        if status is None or not status.authenticated or status.user is None:
            return TokenReview(authenticated=False)
        extra = {key: tuple(values or ()) for key, values in (status.user.extra or {}).items()}
        return TokenReview(
            authenticated=True,
            username=status.user.username or "",
            uid=status.user.uid or "",
            audiences=tuple(status.audiences or ()),
            extra=extra,
        )

    def service_account(self, ref: ObjectRef) -> ServiceAccountView | None:
        found = _call(
            f"read ServiceAccount {ref}",
            lambda: self.core.read_namespaced_service_account(ref.name, ref.namespace),
        )
        if found is None or found.metadata is None:
            return None
        meta = found.metadata
        return ServiceAccountView(
            ref.namespace,
            ref.name,
            meta.uid or "",
            dict(meta.labels or {}),
            dict(meta.annotations or {}),
        )

    def pod(self, ref: ObjectRef) -> PodView | None:
        found = _call(
            f"read Pod {ref}", lambda: self.core.read_namespaced_pod(ref.name, ref.namespace)
        )
        if found is None or found.metadata is None:
            return None
        account = found.spec.service_account_name if found.spec is not None else None
        return PodView(
            ref.namespace,
            ref.name,
            found.metadata.uid or "",
            account or "",
            dict(found.metadata.labels or {}),
        )

    def training_job(self, ref: ObjectRef) -> TrainingJobView | None:
        found = self._custom(ref, "trainingjobs")
        return TrainingJobView.from_object(found) if found is not None else None

    def dataset(self, ref: ObjectRef) -> DatasetView | None:
        found = self._custom(ref, "speechdatasets")
        return DatasetView.from_object(found) if found is not None else None

    def _custom(self, ref: ObjectRef, plural: str) -> dict[str, Any] | None:
        found = _call(
            f"read {plural} {ref}",
            lambda: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, ref.namespace, plural, ref.name
            ),
        )
        return found if isinstance(found, dict) else None


def gather(reader: ClusterReader, token: str, request: KeyRequest) -> Evidence:
    """Read in the decision's order; stop once what was read already rules the request out."""
    review = reader.review_token(token)
    account = review.service_account() if review.authenticated else None
    if account is None or reader.audience not in review.audiences:
        return Evidence(review)
    service_account = reader.service_account(account)
    job_name = service_account.labels.get(JOB_LABEL) if service_account else None
    if not job_name:
        return Evidence(review, service_account)
    bound = review.bound_pod()
    pod = reader.pod(ObjectRef(account.namespace, bound[0])) if bound else None
    job = reader.training_job(ObjectRef(account.namespace, job_name))
    if job is None or job.dataset != request.dataset:
        return Evidence(review, service_account, pod, job)
    return Evidence(review, service_account, pod, job, reader.dataset(request.dataset))


def _call(action: str, call: Any) -> Any:
    """The API's answer, None for 404, ClusterUnavailable for anything else (status only)."""
    try:
        return call()
    except ApiException as error:
        if error.status == 404:
            return None
        # The body is not logged or kept: for a TokenReview it could echo the request.
        raise ClusterUnavailable(f"cannot {action}: HTTP {error.status} {error.reason}") from None
    except (HTTPError, OSError) as error:
        raise ClusterUnavailable(f"cannot {action}: {type(error).__name__}") from None
