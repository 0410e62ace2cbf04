"""build_children: the desired state of an admitted TrainingJob, as objects for server-side apply.

Pure: the same plan always gives equal dicts, and nothing here reads the cluster. Each object is
complete (apiVersion, kind, metadata with namespace, labels and the controller reference), so the
reconciler applies them as they are, in the order `Children.all()` gives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from voxgate.builders.names import JOB_UID_ANNOTATION, ChildNames
from voxgate.builders.network import build_network_policy
from voxgate.builders.plan import WorkloadPlan
from voxgate.builders.pod import BROKER_CA_FILE_NAME, pod_template
from voxgate.privacy.runtime import SETTINGS_FILE_NAME, dp_settings_document


@dataclass(frozen=True)
class Children:
    names: ChildNames
    service_account: dict[str, Any]
    config_map: dict[str, Any]
    network_policy: dict[str, Any]
    service: dict[str, Any]
    job: dict[str, Any]
    # allowList egress endpoints a NetworkPolicy cannot express (host names): they stay blocked;
    # the reconciler reports them (an Event and the status message).
    unsupported_egress: tuple[str, ...] = ()

    def all(self) -> tuple[dict[str, Any], ...]:
        """Apply order: identity and settings first, the isolation before anything can run."""
        return (*self.prerequisites(), self.job)

    def prerequisites(self) -> tuple[dict[str, Any], ...]:
        """What must exist before the Job (its pods need the identity and settings, and must
        never run without their NetworkPolicy); independent of each other, so applied at once."""
        return (self.service_account, self.config_map, self.network_policy, self.service)


def build_service_account(plan: WorkloadPlan) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        # The broker maps a token's ServiceAccount back to exactly this job (not a re-created one
        # of the same name) through the uid.
        "metadata": plan.metadata(plan.names.service_account, {JOB_UID_ANNOTATION: plan.uid}),
        "automountServiceAccountToken": False,
    }


def dp_settings_json(plan: WorkloadPlan) -> str | None:
    if plan.dp_params is None or plan.epsilon is None:
        return None
    document = dp_settings_document(plan.dp_params, plan.epsilon)
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def build_config_map(plan: WorkloadPlan) -> dict[str, Any]:
    settings = dp_settings_json(plan)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": plan.metadata(plan.names.config_map),
        # A job without DP gets an empty ConfigMap (the trainer's DP loader then refuses to start
        # rather than invent settings). Immutable: what the ledger was charged for cannot change
        # under a running trainer.
        "data": {
            **({SETTINGS_FILE_NAME: settings} if settings is not None else {}),
            **(
                {BROKER_CA_FILE_NAME: plan.settings.broker_ca_pem}
                if plan.settings.broker_ca_pem
                else {}
            ),
        },
        "immutable": True,
    }


def build_service(plan: WorkloadPlan) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": plan.metadata(plan.names.service),
        "spec": {
            "clusterIP": "None",
            "selector": plan.selector,
            # Workers find each other while still starting (before any readiness).
            "publishNotReadyAddresses": True,
        },
    }


def build_job(plan: WorkloadPlan) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": plan.metadata(plan.names.job),
        "spec": {
            "completionMode": "Indexed",
            "completions": plan.workers,
            "parallelism": plan.workers,
            # A retry would release the data and spend privacy budget again.
            "backoffLimit": 0,
            "activeDeadlineSeconds": plan.deadline_seconds,
            # No ttlSecondsAfterFinished: the operator cleans up after recording the outcome.
            "template": pod_template(plan),
        },
    }


def build_children(plan: WorkloadPlan) -> Children:
    network_policy, unsupported = build_network_policy(plan)
    return Children(
        names=plan.names,
        service_account=build_service_account(plan),
        config_map=build_config_map(plan),
        network_policy=network_policy,
        service=build_service(plan),
        job=build_job(plan),
        unsupported_egress=unsupported,
    )
