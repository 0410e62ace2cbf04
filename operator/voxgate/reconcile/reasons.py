"""Condition reasons and Event reasons: CamelCase, stable, in one place (they are API)."""

# TrainingJob
ADMITTED = "Admitted"
DENIED = "Denied"  # the condition's reason is the first deny code; this is the Event reason
POLICY_UNAVAILABLE = "PolicyUnavailable"
DATASET_NOT_FOUND = "DatasetNotFound"
INVALID_PRIVACY = "InvalidPrivacyParameters"
BUDGET_RACE_LOST = "DatasetBudgetExceeded"
WORKLOAD_INVALID = "WorkloadInvalid"
EGRESS_UNSUPPORTED = "EgressEndpointUnsupported"
WORKLOAD_CREATED = "WorkloadCreated"
WAITING_FOR_WORKERS = "WaitingForWorkers"
RUNNING = "Running"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
GRANT_REVOKED = "GrantRevoked"
GRANT_EXPIRED = "GrantExpired"
CONSENT_EXPIRED = "ConsentExpired"
CREDENTIALS_REVOKED = "CredentialsRevoked"
NOT_STARTED = "NotStarted"

# DataGrant
GRANT_ACTIVE = "Active"
GRANT_NOT_APPROVED = "NotApproved"
GRANT_NOT_YET_VALID = "NotYetValid"
GRANT_EXPIRED_REASON = "Expired"
GRANT_REVOKED_REASON = "Revoked"

# SpeechDataset
DATASET_READY = "ManifestVerified"
MANIFEST_MISSING = "ManifestMissing"
MANIFEST_INVALID = "ManifestInvalid"
SIGNATURE_INVALID = "SignatureInvalid"
DATASET_CONSENT_EXPIRED = "ConsentExpired"
