"""The admission webhooks, served by the operator process (kopf's WebhookServer over TLS).

Thin, like the other handlers: each reads the AdmissionReview, calls a pure function from
voxgate.admission (or the reconciler's own decision, voxgate.reconcile.decide) and turns a refusal
into kopf.AdmissionError. The webhook ids are the URL paths the Mutating/Validating
WebhookConfigurations point at; failurePolicy Fail makes an unreachable webhook a refusal.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import kopf

from voxgate import API_GROUP, API_VERSION, metrics
from voxgate.admission import (
    MUTATE_REQUESTER,
    VALIDATE_DATAGRANT,
    VALIDATE_TRAININGJOB,
    Identity,
    InvalidUserInfo,
    ObjectChange,
    annotation_changes,
    audit_record,
    count_decision,
    decision_refusal,
    grant_refusal,
    precheck_refusal,
    with_requester,
)
from voxgate.privacy.params import InvalidDPParams
from voxgate.privacy.store import LedgerStore, Sighting
from voxgate.reconcile import reasons
from voxgate.reconcile.decide import DatasetNotFound, decide_for
from voxgate.reconcile.kube import without_bookkeeping
from voxgate.reconcile.trainingjob import Operator, subject

log = logging.getLogger(__name__)

FORBIDDEN = 403
INPUTS_UNAVAILABLE = (
    "the operator could not read the decision's inputs; nothing is admitted until it can"
)
Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
WRITES: list[Operation] = ["CREATE", "UPDATE"]
CREATE_ONLY: list[Operation] = ["CREATE"]


def _change(
    body: kopf.Body, old: kopf.Body | None, operation: str | None, userinfo: Any
) -> ObjectChange:
    try:
        user = Identity.from_user_info(userinfo)
    except InvalidUserInfo as error:
        raise kopf.AdmissionError(str(error), code=FORBIDDEN) from None
    return ObjectChange(
        operation=operation or "",
        new=copy.deepcopy(dict(body)),
        old=copy.deepcopy(dict(old)) if old is not None else None,
        user=user,
    )


async def mutate_requester(
    *,
    body: kopf.Body,
    old: kopf.Body | None = None,
    operation: str | None = None,
    userinfo: Any,
    patch: kopf.Patch,
    **_: Any,
) -> None:
    """Stamp who requested (and, on grants, who approved or revoked) from the real identity."""
    for key, value in annotation_changes(_change(body, old, operation, userinfo)).items():
        patch.metadata.annotations[key] = value


# -- the webhook's cache of datasets, grants and ledgers ---------------------------------------
# A decision inside `kubectl apply` should cost OPA, not a list of every grant and a ledger read
# per request: kopf keeps these indexes from its watches, and the ledger is the one this process
# last read or wrote, if recent enough. An allowed answer is decided again by the reconciler from
# fresh reads, and a denial at once (decide_for); the reconciler passes no catalog at all.

# A ledger older than this is read again: a stale one can only make `kubectl apply` admit a job
# the reconciler then denies, and within seconds the reconciler's own reads keep it current.
LEDGER_FRESH_SECONDS = 5.0


def speech_datasets(
    namespace: str | None, name: str | None, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace or "", name or ""): without_bookkeeping(copy.deepcopy(dict(body)))}


def data_grants(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {namespace or "": without_bookkeeping(copy.deepcopy(dict(body)))}


@dataclass(frozen=True)
class IndexCatalog:
    """voxgate.reconcile.decide.Catalog over the two indexes (copies, so nothing edits them)
    and the ledger store's recent ledgers (immutable)."""

    datasets: kopf.Index[tuple[str, str], dict[str, Any]]
    grants_index: kopf.Index[str, dict[str, Any]]
    ledgers: LedgerStore

    def dataset(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = list(self.datasets.get((namespace, name), ()))
        return copy.deepcopy(found[0]) if len(found) == 1 else None

    def grants(self, namespace: str) -> list[dict[str, Any]] | None:
        found = self.grants_index.get(namespace)
        return None if found is None else [copy.deepcopy(grant) for grant in found]

    def ledger(self, namespace: str, dataset: str) -> Sighting | None:
        return self.ledgers.recent(namespace, dataset, within=LEDGER_FRESH_SECONDS)


async def validate_training_job(
    *,
    body: kopf.Body,
    userinfo: Any,
    memo: Any,
    operation: str | None = None,
    dryrun: bool = False,
    speech_datasets: kopf.Index[tuple[str, str], dict[str, Any]] | None = None,
    data_grants: kopf.Index[str, dict[str, Any]] | None = None,
    **_: Any,
) -> None:
    """The reconciler's decision, at `kubectl apply`: a denied job is never created."""
    if operation != "CREATE":
        return
    operator: Operator = memo.operator
    change = _change(body, None, operation, userinfo)
    # The identity the API server vouches for, whatever the object's annotation says.
    job = with_requester(change.new, change.user)
    catalog = (
        IndexCatalog(speech_datasets, data_grants, operator.ledger)
        if speech_datasets is not None and data_grants is not None
        else None
    )
    begin = time.perf_counter()
    try:
        decision, _epsilon = await decide_for(operator, job, catalog)
        decided_at = operator.clock()
    except DatasetNotFound as error:
        raise kopf.AdmissionError(
            precheck_refusal(reasons.DATASET_NOT_FOUND, str(error)), code=FORBIDDEN
        ) from None
    except InvalidDPParams as error:
        raise kopf.AdmissionError(
            precheck_refusal(reasons.INVALID_PRIVACY, str(error)), code=FORBIDDEN
        ) from None
    except Exception as error:  # noqa: BLE001 - fail closed, with a message fit for kubectl
        log.warning("validate-trainingjob could not gather its inputs: %r", error)
        raise kopf.AdmissionError(
            precheck_refusal(
                reasons.POLICY_UNAVAILABLE, f"{INPUTS_UNAVAILABLE} ({type(error).__name__})"
            ),
            code=FORBIDDEN,
        ) from None
    metrics.DECISION_SECONDS.labels(source="webhook").observe(time.perf_counter() - begin)
    count_decision(decision, source="webhook")
    if not dryrun:  # a dry run decides nothing that happens
        event, details = audit_record(decision, change.user.username, decided_at)
        operator.audit.record(event, subject(job), details)
    refusal = decision_refusal(decision)
    if refusal is not None:
        raise kopf.AdmissionError(refusal, code=FORBIDDEN)


async def validate_data_grant(
    *,
    body: kopf.Body,
    old: kopf.Body | None = None,
    operation: str | None = None,
    userinfo: Any,
    memo: Any,
    **_: Any,
) -> None:
    """Only stewards approve or revoke, and never a grant they requested themselves."""
    operator: Operator = memo.operator
    refusal = grant_refusal(
        _change(body, old, operation, userinfo), operator.settings.steward_group
    )
    if refusal is not None:
        raise kopf.AdmissionError(refusal, code=FORBIDDEN)


def register(registry: kopf.OperatorRegistry) -> None:
    """The webhooks (ids are the URL paths the WebhookConfigurations name) and their indexes."""
    for plural in ("trainingjobs", "datagrants"):
        kopf.on.mutate(
            API_GROUP, API_VERSION, plural, id=MUTATE_REQUESTER, operations=WRITES,
            registry=registry,
        )(mutate_requester)  # fmt: skip
    kopf.index(API_GROUP, API_VERSION, "speechdatasets", registry=registry)(speech_datasets)
    kopf.index(API_GROUP, API_VERSION, "datagrants", registry=registry)(data_grants)
    kopf.on.validate(
        API_GROUP, API_VERSION, "trainingjobs", id=VALIDATE_TRAININGJOB, operations=CREATE_ONLY,
        registry=registry,
    )(validate_training_job)  # fmt: skip
    kopf.on.validate(
        API_GROUP, API_VERSION, "datagrants", id=VALIDATE_DATAGRANT, operations=WRITES,
        registry=registry,
    )(validate_data_grant)  # fmt: skip
