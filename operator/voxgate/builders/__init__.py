"""Pure builders of an admitted TrainingJob's children, and of its progress from the Job's status.

No I/O, no kopf, no API calls: the reconciler reads the world, builds a WorkloadPlan, calls
`build_children` and applies `Children.all()` with server-side apply, in that order.
"""

from voxgate.builders.errors import WorkloadPlanError
from voxgate.builders.names import (
    BROKER_TOKEN_AUDIENCE,
    JOB_LABEL,
    JOB_UID_ANNOTATION,
    ChildNames,
    child_labels,
    owner_reference,
    selector_labels,
)
from voxgate.builders.network import EgressAllowList, egress_allow_list
from voxgate.builders.plan import WorkloadPlan
from voxgate.builders.progress import JobStatusError, Progress, job_progress
from voxgate.builders.workload import Children, build_children

__all__ = [
    "BROKER_TOKEN_AUDIENCE",
    "JOB_LABEL",
    "JOB_UID_ANNOTATION",
    "ChildNames",
    "Children",
    "EgressAllowList",
    "JobStatusError",
    "Progress",
    "WorkloadPlan",
    "WorkloadPlanError",
    "build_children",
    "child_labels",
    "egress_allow_list",
    "job_progress",
    "owner_reference",
    "selector_labels",
]
