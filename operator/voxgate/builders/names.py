"""Names, labels and the owner reference every child of a TrainingJob carries.

Child names are a pure function of the job's name, so the reconciler finds (and the broker
recognises) a job's objects without storing anything. TrainingJob names are DNS-1035 labels of at
most 48 characters (the CRD enforces it), which leaves room for the longest suffix below and for
the Indexed Job's pod host names `<job>-<index>`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from voxgate.builders.errors import WorkloadPlanError

TRAINING_JOB_API_VERSION = "voxgate.io/v1alpha1"
TRAINING_JOB_KIND = "TrainingJob"

JOB_LABEL = "voxgate.io/training-job"
DATASET_LABEL = "voxgate.io/dataset"
JOB_UID_ANNOTATION = "voxgate.io/training-job-uid"
APP_NAME_LABEL = "app.kubernetes.io/name"
TRAINER_APP_NAME = "voxgate-trainer"
# The operator's own pods (which serve the key broker) carry app.kubernetes.io/name=voxgate.
OPERATOR_APP_NAME = "voxgate"
# The audience of the projected token the unseal step presents; the broker's TokenReview asks
# for exactly this audience, so the token is useless against the API server or anything else.
BROKER_TOKEN_AUDIENCE = "voxgate-broker"  # noqa: S105 - an audience name, not a secret

MAX_JOB_NAME_LENGTH = 48
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class ChildNames:
    """The names of a TrainingJob's children, all in the job's namespace."""

    service_account: str
    network_policy: str
    service: str
    config_map: str
    job: str

    @classmethod
    def for_job(cls, job_name: str) -> ChildNames:
        check_job_name(job_name)
        return cls(
            service_account=f"{job_name}-trainer",
            network_policy=f"{job_name}-isolation",
            # The Service must be named like the pods' subdomain, which is the job's name.
            service=job_name,
            config_map=f"{job_name}-dp",
            job=job_name,
        )

    def as_status(self) -> dict[str, str]:
        """TrainingJob.status.children."""
        return {
            "serviceAccount": self.service_account,
            "networkPolicy": self.network_policy,
            "service": self.service,
            "job": self.job,
            "configMap": self.config_map,
        }


def check_job_name(job_name: str) -> str:
    if len(job_name) > MAX_JOB_NAME_LENGTH or not _DNS_1035_LABEL.match(job_name):
        raise WorkloadPlanError(
            f"TrainingJob name {job_name!r} must be a DNS-1035 label of at most "
            f"{MAX_JOB_NAME_LENGTH} characters"
        )
    return job_name


def selector_labels(job_name: str) -> dict[str, str]:
    """The one label that selects a job's pods (NetworkPolicy, Service)."""
    return {JOB_LABEL: check_job_name(job_name)}


def child_labels(job_name: str, dataset_name: str) -> dict[str, str]:
    """The labels on every child and on the worker pods."""
    if not _DNS_1123_LABEL.match(dataset_name) or len(dataset_name) > 63:
        raise WorkloadPlanError(f"SpeechDataset name {dataset_name!r} must be a DNS label")
    return {
        "app.kubernetes.io/managed-by": "voxgate",
        "app.kubernetes.io/part-of": "voxgate",
        APP_NAME_LABEL: TRAINER_APP_NAME,
        "app.kubernetes.io/instance": job_name,
        **selector_labels(job_name),
        DATASET_LABEL: dataset_name,
    }


def owner_reference(job: Mapping[str, Any]) -> dict[str, Any]:
    """A controller reference to the TrainingJob, so deleting the job garbage-collects its children.

    blockOwnerDeletion needs the applier to be allowed to update trainingjobs/finalizers.
    """
    metadata = job.get("metadata")
    if not isinstance(metadata, Mapping):
        raise WorkloadPlanError("TrainingJob has no metadata")
    name, uid = metadata.get("name"), metadata.get("uid")
    if not isinstance(name, str) or not name:
        raise WorkloadPlanError("TrainingJob metadata.name is missing")
    if not isinstance(uid, str) or not uid:
        raise WorkloadPlanError(f"TrainingJob {name} has no metadata.uid (was it created yet?)")
    return {
        "apiVersion": TRAINING_JOB_API_VERSION,
        "kind": TRAINING_JOB_KIND,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
