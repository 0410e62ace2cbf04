"""Why the broker answers as it does: one code, HTTP status and fixed message per outcome.

Messages are fixed texts: they tell a legitimate caller what to fix and never echo what the
broker found (names, uids, expected values), which would help someone probing it.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    MISSING_TOKEN = "MissingToken"  # noqa: S105 - a reason code
    INVALID_TOKEN = "InvalidToken"  # noqa: S105 - a reason code
    WRONG_AUDIENCE = "WrongAudience"
    BAD_REQUEST = "BadRequest"
    NOT_A_SERVICE_ACCOUNT = "NotAServiceAccount"
    NOT_A_TRAINING_JOB_IDENTITY = "NotATrainingJobIdentity"
    TOKEN_NOT_POD_BOUND = "TokenNotPodBound"  # noqa: S105 - a reason code
    POD_NOT_OF_JOB = "PodNotOfJob"
    TRAINING_JOB_NOT_FOUND = "TrainingJobNotFound"
    TRAINING_JOB_MISMATCH = "TrainingJobMismatch"
    JOB_NOT_LIVE = "JobNotLive"
    CREDENTIALS_EXPIRED = "CredentialsExpired"
    WRONG_DATASET = "WrongDataset"
    DATASET_NOT_FOUND = "DatasetNotFound"
    CONSENT_EXPIRED = "ConsentExpired"
    MANIFEST_MISMATCH = "ManifestMismatch"
    KEK_MISMATCH = "KekMismatch"
    UNKNOWN_KEK = "UnknownKek"
    UNKNOWN_KEK_VERSION = "UnknownKekVersion"
    KEY_UNWRAP_FAILED = "KeyUnwrapFailed"
    BROKER_UNAVAILABLE = "BrokerUnavailable"
    KEY_STORE_UNAVAILABLE = "KeyStoreUnavailable"
    AUDIT_UNAVAILABLE = "AuditUnavailable"
    RATE_LIMITED = "RateLimited"
    PRIVACY_NOT_RESERVED = "PrivacyNotReserved"
    LEDGER_UNAVAILABLE = "LedgerUnavailable"


STATUS: dict[Reason, int] = {
    Reason.MISSING_TOKEN: 401,
    Reason.INVALID_TOKEN: 401,
    Reason.WRONG_AUDIENCE: 401,
    Reason.BAD_REQUEST: 400,
    Reason.NOT_A_SERVICE_ACCOUNT: 403,
    Reason.NOT_A_TRAINING_JOB_IDENTITY: 403,
    Reason.TOKEN_NOT_POD_BOUND: 403,
    Reason.POD_NOT_OF_JOB: 403,
    Reason.TRAINING_JOB_NOT_FOUND: 403,
    Reason.TRAINING_JOB_MISMATCH: 403,
    Reason.JOB_NOT_LIVE: 403,
    Reason.CREDENTIALS_EXPIRED: 403,
    Reason.WRONG_DATASET: 403,
    Reason.DATASET_NOT_FOUND: 403,
    Reason.CONSENT_EXPIRED: 403,
    Reason.MANIFEST_MISMATCH: 403,
    Reason.KEK_MISMATCH: 403,
    # The caller is authorised for the dataset; its manifest's keys are what is wrong.
    Reason.UNKNOWN_KEK: 422,
    Reason.UNKNOWN_KEK_VERSION: 422,
    Reason.KEY_UNWRAP_FAILED: 422,
    # Fail closed, and tell the client that trying again later may work.
    Reason.BROKER_UNAVAILABLE: 503,
    Reason.KEY_STORE_UNAVAILABLE: 503,
    Reason.AUDIT_UNAVAILABLE: 503,
    Reason.RATE_LIMITED: 429,
    Reason.PRIVACY_NOT_RESERVED: 403,
    Reason.LEDGER_UNAVAILABLE: 503,
}

MESSAGE: dict[Reason, str] = {
    Reason.MISSING_TOKEN: "send the pod's projected ServiceAccount token as 'Authorization: "
    "Bearer <token>'",
    Reason.INVALID_TOKEN: "the token was not accepted (expired, revoked, its ServiceAccount or "
    "pod deleted, or issued for another audience)",
    Reason.WRONG_AUDIENCE: "the token is not issued for the key broker's audience",
    Reason.BAD_REQUEST: "the request body is not a valid key request",
    Reason.NOT_A_SERVICE_ACCOUNT: "only ServiceAccount tokens are accepted",
    Reason.NOT_A_TRAINING_JOB_IDENTITY: "the ServiceAccount is not the identity of a TrainingJob",
    Reason.TOKEN_NOT_POD_BOUND: "the token must be a projected token bound to a pod",
    Reason.POD_NOT_OF_JOB: "the token's pod is not a worker of the TrainingJob",
    Reason.TRAINING_JOB_NOT_FOUND: "the ServiceAccount's TrainingJob does not exist",
    Reason.TRAINING_JOB_MISMATCH: "the ServiceAccount belongs to an earlier TrainingJob of the "
    "same name",
    Reason.JOB_NOT_LIVE: "the TrainingJob is not admitted or running",
    Reason.CREDENTIALS_EXPIRED: "the TrainingJob's credentials have expired",
    Reason.WRONG_DATASET: "the TrainingJob is not for this dataset",
    Reason.DATASET_NOT_FOUND: "the dataset does not exist",
    Reason.CONSENT_EXPIRED: "the dataset's consent has expired",
    Reason.MANIFEST_MISMATCH: "the manifest is not the dataset's verified manifest",
    Reason.KEK_MISMATCH: "the manifest's keys are wrapped by another KEK than the dataset's",
    Reason.UNKNOWN_KEK: "the dataset's KEK does not exist in the key store",
    Reason.UNKNOWN_KEK_VERSION: "the manifest names a KEK version that does not exist or was "
    "retired; rewrap it",
    Reason.KEY_UNWRAP_FAILED: "a wrapped key does not unwrap for this dataset",
    Reason.BROKER_UNAVAILABLE: "the key broker cannot decide right now; retry later",
    Reason.KEY_STORE_UNAVAILABLE: "the key store is unavailable; retry later",
    Reason.AUDIT_UNAVAILABLE: "the audit trail is unavailable, so no keys are released; retry "
    "later",
    Reason.RATE_LIMITED: "too many unauthenticated requests from this address; retry after the "
    "time in Retry-After",
    Reason.PRIVACY_NOT_RESERVED: "the TrainingJob's privacy budget is not reserved in the "
    "dataset's ledger, so no data may be released to it",
    Reason.LEDGER_UNAVAILABLE: "the privacy ledger could not record the charge, so no keys are "
    "released; retry later",
}
