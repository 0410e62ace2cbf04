"""The admission decision: one Rego query, evaluated by OPA, for the webhook, the reconciler and
`voxgate check`. Anything but a well-formed answer in time is a denial (fail closed)."""

from voxgate.policy.decision import (
    POLICY_UNAVAILABLE,
    Decision,
    Denial,
    Egress,
    MalformedDecision,
    Obligations,
    parse_decision,
    unavailable,
)

__all__ = [
    "POLICY_UNAVAILABLE",
    "Decision",
    "Denial",
    "Egress",
    "MalformedDecision",
    "Obligations",
    "parse_decision",
    "unavailable",
]
