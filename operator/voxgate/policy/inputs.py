"""The decision input: the one document every caller (reconciler, webhook, `voxgate check`) hands
to the policy, assembled the same way everywhere (shape: policies/schema/input.schema.json).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

REQUESTED_BY = "voxgate.io/requested-by"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"

Object = dict[str, Any]


@dataclass(frozen=True)
class Requester:
    username: str
    groups: tuple[str, ...] = ()

    @classmethod
    def from_annotation(cls, obj: Mapping[str, Any]) -> Requester | None:
        """The identity the mutating webhook stamped on `obj`; None when absent or unreadable."""
        raw = obj.get("metadata", {}).get("annotations", {}).get(REQUESTED_BY)
        if not isinstance(raw, str):
            return None
        try:
            stamp = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(stamp, dict) or not isinstance(stamp.get("username"), str):
            return None
        groups = stamp.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            return None
        return cls(stamp["username"], tuple(groups))

    def document(self, job_namespace: str) -> dict[str, Any]:
        service_account = None
        prefix = f"{SERVICE_ACCOUNT_PREFIX}{job_namespace}:"
        if self.username.startswith(prefix):
            service_account = self.username.removeprefix(prefix)
        return {
            "username": self.username,
            "groups": list(self.groups),
            "serviceAccount": service_account,
        }


@dataclass(frozen=True)
class GrantUse:
    epsilon_used: float = 0.0
    epsilon_reserved: float = 0.0
    # Composed epsilon of the grant's committed runs plus this job's; None when not computed.
    epsilon_after: float | None = None

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "epsilonUsed": self.epsilon_used,
            "epsilonReserved": self.epsilon_reserved,
        }
        if self.epsilon_after is not None:
            doc["epsilonAfter"] = self.epsilon_after
        return doc


@dataclass(frozen=True)
class LedgerView:
    """What the dataset's privacy ledger says is left, and what each grant has used."""

    epsilon_total: float
    epsilon_spent: float
    epsilon_reserved: float
    epsilon_remaining: float
    grants: Mapping[str, GrantUse] = field(default_factory=dict)
    # Composed epsilon of the dataset's committed runs plus this job's (what the ledger will
    # check); None when the caller cannot compute it, and the policy falls back to a
    # conservative comparison with epsilonRemaining.
    epsilon_after: float | None = None

    @classmethod
    def unused(cls, dataset: Mapping[str, Any]) -> LedgerView:
        total = float(dataset["spec"]["privacy"]["budget"]["epsilon"])
        return cls(total, 0.0, 0.0, total)

    @classmethod
    def from_status(
        cls, dataset: Mapping[str, Any], grants: Iterable[Mapping[str, Any]]
    ) -> LedgerView:
        """The view the objects' status fields record (what `voxgate check` has offline)."""
        total = float(dataset["spec"]["privacy"]["budget"]["epsilon"])
        budget = dataset.get("status", {}).get("budget", {})
        spent = float(budget.get("epsilonSpent", 0.0))
        reserved = float(budget.get("epsilonReserved", 0.0))
        remaining = float(budget.get("epsilonRemaining", max(total - spent - reserved, 0.0)))
        uses = {
            str(g["metadata"]["name"]): GrantUse(
                float(g.get("status", {}).get("epsilonUsed", 0.0)),
                float(g.get("status", {}).get("epsilonReserved", 0.0)),
            )
            for g in grants
        }
        return cls(total, spent, reserved, remaining, uses)

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any]) -> LedgerView:
        """The view of voxgate.privacy.ledger.summary() (the operator's source of truth)."""
        grants = {
            str(name): GrantUse(
                float(use.get("epsilonUsed", 0.0)), float(use.get("epsilonReserved", 0.0))
            )
            for name, use in summary.get("grants", {}).items()
        }
        return cls(
            float(summary["epsilonTotal"]),
            float(summary["epsilonSpent"]),
            float(summary["epsilonReserved"]),
            float(summary["epsilonRemaining"]),
            grants,
        )

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "epsilonTotal": self.epsilon_total,
            "epsilonSpent": self.epsilon_spent,
            "epsilonReserved": self.epsilon_reserved,
            "epsilonRemaining": self.epsilon_remaining,
            "grants": {name: use.document() for name, use in sorted(self.grants.items())},
        }
        if self.epsilon_after is not None:
            doc["epsilonAfter"] = self.epsilon_after
        return doc


@dataclass(frozen=True)
class DecisionInput:
    training_job: Object
    dataset: Object
    parents: tuple[Object, ...]
    grants: tuple[Object, ...]
    ledger: LedgerView
    epsilon: float | None
    delta: float | None
    requester: Requester | None
    now: datetime.datetime

    def document(self) -> dict[str, Any]:
        namespace = str(self.training_job.get("metadata", {}).get("namespace", "default"))
        return {
            "trainingJob": trimmed(self.training_job),
            "dataset": trimmed(self.dataset),
            "parents": [trimmed(p) for p in self.parents],
            "grants": [trimmed(g) for g in self.grants],
            "ledger": self.ledger.document(),
            "privacy": {"epsilon": self.epsilon, "delta": self.delta},
            # An unknown requester is sent as an empty name: the policy refuses it (InvalidInput)
            # rather than the operator guessing who asked.
            "requester": (
                self.requester.document(namespace)
                if self.requester
                else {"username": "", "groups": [], "serviceAccount": None}
            ),
            "now": rfc3339(self.now),
        }


def rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def trimmed(obj: Mapping[str, Any]) -> Object:
    """The object without the bookkeeping the policy never reads (managedFields can be large)."""
    out = dict(obj)
    metadata = dict(out.get("metadata", {}))
    metadata.pop("managedFields", None)
    out["metadata"] = metadata
    return out


def dataset_key(job: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of the dataset a TrainingJob names; namespace defaults to the job's."""
    ref = job.get("spec", {}).get("datasetRef", {})
    namespace = ref.get("namespace") or job.get("metadata", {}).get("namespace", "default")
    return str(namespace), str(ref.get("name", ""))


def grants_for(
    dataset: Mapping[str, Any], candidates: Iterable[Mapping[str, Any]]
) -> tuple[Object, ...]:
    namespace = dataset["metadata"].get("namespace", "default")
    name = dataset["metadata"]["name"]
    return tuple(
        dict(g)
        for g in candidates
        if g.get("metadata", {}).get("namespace", "default") == namespace
        and g.get("spec", {}).get("datasetRef", {}).get("name") == name
    )


def parents_of(
    dataset: Mapping[str, Any], candidates: Iterable[Mapping[str, Any]]
) -> tuple[Object, ...]:
    namespace = dataset["metadata"].get("namespace", "default")
    wanted = [p.get("name") for p in dataset.get("spec", {}).get("derivedFrom", [])]
    by_name = {
        c["metadata"]["name"]: dict(c)
        for c in candidates
        if c.get("metadata", {}).get("namespace", "default") == namespace
    }
    return tuple(by_name[name] for name in wanted if name in by_name)
