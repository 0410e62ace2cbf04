"""The typed decision, and the strict parser that turns OPA's answer into one.

The parser accepts exactly the documented output shape (policies/schema/output.schema.json). A
missing field, a wrong type, or an `allow` that contradicts the denials is not guessed at: it is a
malformed decision, which the client turns into a PolicyUnavailable denial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

POLICY_UNAVAILABLE = "PolicyUnavailable"
# What a job gets when the policy engine cannot answer: the most restrictive controls.
FAIL_CLOSED_TTL_SECONDS = 600


class MalformedDecision(ValueError):
    """OPA answered, but not with a decision in the documented shape."""


@dataclass(frozen=True)
class Denial:
    code: str
    message: str


@dataclass(frozen=True)
class Egress:
    mode: str  # "deny" or "allowList"
    endpoints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Obligations:
    """What the policy demands of an admitted workload; the operator applies these as given."""

    require_dp: bool = True
    max_epsilon: float | None = 0.0  # None: only the budgets limit the job
    credential_ttl_seconds: int = FAIL_CLOSED_TTL_SECONDS
    egress: Egress = field(default_factory=lambda: Egress("deny"))
    memory_only_data: bool = True
    max_workers: int = 1

    def as_dict(self) -> dict[str, Any]:
        egress: dict[str, Any] = {"mode": self.egress.mode}
        if self.egress.mode == "allowList":
            egress["endpoints"] = list(self.egress.endpoints)
        return {
            "requireDP": self.require_dp,
            "maxEpsilon": self.max_epsilon,
            "credentialTTLSeconds": self.credential_ttl_seconds,
            "egress": egress,
            "memoryOnlyData": self.memory_only_data,
            "maxWorkers": self.max_workers,
        }


@dataclass(frozen=True)
class Decision:
    allowed: bool
    denials: tuple[Denial, ...]
    obligations: Obligations
    policy_revision: str
    decision_id: str
    # The policy's obligations exactly as it returned them, including keys the operator does not
    # interpret (tier, chargeGrant, ...), so status and audit show what the policy said.
    obligations_document: Mapping[str, Any] = field(default_factory=dict)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.denials)

    def as_status(self) -> dict[str, Any]:
        """The decision as TrainingJob.status.decision (without the time, which the caller adds)."""
        return {
            "allowed": self.allowed,
            "denials": [{"code": d.code, "message": d.message} for d in self.denials],
            "obligations": dict(self.obligations_document) or self.obligations.as_dict(),
            "policyRevision": self.policy_revision,
            "decisionId": self.decision_id,
        }


def unavailable(reason: str, *, policy_revision: str = "", decision_id: str = "") -> Decision:
    message = (
        f"the policy engine gave no usable answer ({reason}); nothing is admitted until it does"
    )
    return Decision(
        allowed=False,
        denials=(Denial(POLICY_UNAVAILABLE, message),),
        obligations=Obligations(),
        policy_revision=policy_revision,
        decision_id=decision_id,
    )


def parse_decision(document: object, *, policy_revision: str, decision_id: str) -> Decision:
    if not isinstance(document, dict):
        raise MalformedDecision(f"decision must be an object, got {type(document).__name__}")
    allow = document.get("allow")
    if not isinstance(allow, bool):
        raise MalformedDecision("decision.allow must be a boolean")
    denials = tuple(_denial(d, i) for i, d in enumerate(_list(document, "denials")))
    if allow and denials:
        raise MalformedDecision("decision.allow is true but denials are present")
    if not allow and not denials:
        raise MalformedDecision("decision.allow is false but no denial says why")
    obligations = document.get("obligations")
    return Decision(
        allowed=allow,
        denials=denials,
        obligations=_obligations(obligations) if allow else _obligations_or_strictest(obligations),
        policy_revision=policy_revision,
        decision_id=decision_id,
        obligations_document=dict(obligations) if isinstance(obligations, dict) else {},
    )


def _list(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    if not isinstance(value, list):
        raise MalformedDecision(f"decision.{key} must be a list")
    return value


def _denial(value: object, index: int) -> Denial:
    if not isinstance(value, dict):
        raise MalformedDecision(f"decision.denials[{index}] must be an object")
    code, message = value.get("code"), value.get("message")
    if not isinstance(code, str) or not code.isidentifier() or not code[:1].isupper():
        raise MalformedDecision(f"decision.denials[{index}].code must be a CamelCase name")
    if not isinstance(message, str) or not message:
        raise MalformedDecision(f"decision.denials[{index}].message must be a non-empty string")
    return Denial(code, message)


def _obligations_or_strictest(value: object) -> Obligations:
    # A denied job gets no workload, so its obligations only inform; an incomplete set (the
    # policy's answer when its own data is broken) must not hide the denial behind a parse error.
    try:
        return _obligations(value)
    except MalformedDecision:
        return Obligations()


def _obligations(value: object) -> Obligations:
    if not isinstance(value, dict):
        raise MalformedDecision("decision.obligations must be an object")
    require_dp = _typed(value, "requireDP", bool)
    memory_only = _typed(value, "memoryOnlyData", bool)
    max_epsilon = value.get("maxEpsilon")
    if max_epsilon is not None and (
        isinstance(max_epsilon, bool)
        or not isinstance(max_epsilon, int | float)
        or not math.isfinite(max_epsilon)
        or max_epsilon < 0
    ):
        raise MalformedDecision("decision.obligations.maxEpsilon must be a number >= 0 or null")
    ttl = _typed(value, "credentialTTLSeconds", int)
    workers = _typed(value, "maxWorkers", int)
    if ttl <= 0 or workers <= 0:
        raise MalformedDecision("decision.obligations TTL and maxWorkers must be positive")
    return Obligations(
        require_dp=require_dp,
        max_epsilon=None if max_epsilon is None else float(max_epsilon),
        credential_ttl_seconds=ttl,
        egress=_egress(value.get("egress")),
        memory_only_data=memory_only,
        max_workers=workers,
    )


def _typed(value: dict[str, Any], key: str, kind: type[T]) -> T:
    item = value.get(key)
    # bool is an int in Python; a policy that says `true` for a TTL is malformed, not 1 second.
    if not isinstance(item, kind) or (kind is int and isinstance(item, bool)):
        raise MalformedDecision(f"decision.obligations.{key} must be a {kind.__name__}")
    return item


def _egress(value: object) -> Egress:
    if not isinstance(value, dict):
        raise MalformedDecision("decision.obligations.egress must be an object")
    mode = value.get("mode")
    if mode == "deny":
        return Egress("deny")
    if mode == "allowList":
        endpoints = value.get("endpoints")
        if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
            raise MalformedDecision("decision.obligations.egress.endpoints must list strings")
        return Egress("allowList", tuple(endpoints))
    raise MalformedDecision("decision.obligations.egress.mode must be deny or allowList")
