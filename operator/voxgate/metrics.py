"""Every Prometheus metric voxgate exports, in one place, so names and labels stay stable.

Label values are bounded sets (results, deny codes, error kinds); never put a dataset's content,
a token or a user's free text in a label.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

POLICY_QUERY_SECONDS = Histogram(
    "voxgate_policy_query_seconds",
    "Time to get a decision from OPA, including failed and timed-out queries.",
    buckets=DECISION_BUCKETS,
)
POLICY_ERRORS = Counter(
    "voxgate_policy_errors_total",
    "Queries to OPA that produced no usable decision (and so a PolicyUnavailable denial).",
    ["kind"],  # timeout, connection, http, undefined, malformed
)
DECISIONS = Counter(
    "voxgate_decisions_total",
    "Admission decisions by result and by deny code (one count per code of a denied decision).",
    ["source", "result", "code"],  # source: webhook, reconciler, check
)
DECISION_SECONDS = Histogram(
    "voxgate_decision_seconds",
    "Time from gathering a TrainingJob's inputs to its decision.",
    ["source"],
    buckets=DECISION_BUCKETS,
)
RECONCILE_ERRORS = Counter(
    "voxgate_reconcile_errors_total", "Reconcile attempts that raised an error.", ["kind"]
)
CREDENTIALS_RELEASED = Counter(
    "voxgate_credentials_released_total", "Data keys released by the key broker to a job."
)
CREDENTIALS_REFUSED = Counter(
    "voxgate_credentials_refused_total", "Key broker requests refused, by reason.", ["reason"]
)
CREDENTIALS_ACTIVE = Gauge(
    "voxgate_credentials_active", "TrainingJobs holding live credentials (their ServiceAccount)."
)
BUDGET_REMAINING = Gauge(
    "voxgate_privacy_budget_remaining_epsilon",
    "Epsilon a dataset has left to spend.",
    ["namespace", "dataset"],
)
ADMISSIONS_WAITING = Gauge(
    "voxgate_admissions_waiting",
    "TrainingJobs waiting for an admission slot (operator.maxConcurrentAdmissions), undecided.",
)
LEADER = Gauge(
    "voxgate_leader",
    "1 while this replica holds the operator's Lease (and so reconciles), else 0.",
)
