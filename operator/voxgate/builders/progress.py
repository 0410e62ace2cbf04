"""job_progress: what a batch/v1 Job's status means for the TrainingJob's phase.

Failure wins over success when both appear (fail closed). FailureTarget and SuccessCriteriaMet
(Kubernetes 1.31+) are the Job controller's early verdicts, set while the last pods terminate:
the outcome is already decided, so the TrainingJob moves on without waiting for Failed or
Complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from voxgate.builders.errors import WorkloadPlanError

Phase = Literal["Admitted", "Running", "Succeeded", "Failed"]
FAILED_CONDITIONS = ("Failed", "FailureTarget")
SUCCEEDED_CONDITIONS = ("Complete", "SuccessCriteriaMet")


class JobStatusError(WorkloadPlanError):
    """A Job status that is not in the batch/v1 shape."""


@dataclass(frozen=True)
class Progress:
    phase: Phase
    reason: str  # CamelCase, for TrainingJob.status.reason
    message: str  # one line, for TrainingJob.status.message
    active: int = 0
    ready: int = 0
    succeeded: int = 0
    failed: int = 0
    start_time: str | None = None
    completion_time: str | None = None

    @property
    def finished(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    def workers_status(self) -> dict[str, int]:
        """TrainingJob.status.workers."""
        return {"active": self.active, "succeeded": self.succeeded, "failed": self.failed}


def _count(status: Mapping[str, Any], key: str) -> int:
    value = status.get(key, 0)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise JobStatusError(f"Job status.{key} must be a count, got {value!r}")
    return value


def _true_condition(status: Mapping[str, Any], types: tuple[str, ...]) -> Mapping[str, Any] | None:
    conditions = status.get("conditions") or []
    if not isinstance(conditions, list):
        raise JobStatusError("Job status.conditions must be a list")
    for wanted in types:  # in order of preference: the final condition over the early verdict
        for condition in conditions:
            if (
                isinstance(condition, Mapping)
                and condition.get("type") == wanted
                and condition.get("status") == "True"
            ):
                return condition
    return None


def _explain(condition: Mapping[str, Any]) -> str:
    reason = condition.get("reason") or condition.get("type")
    message = condition.get("message")
    return f"{reason}: {message}" if message else str(reason)


def _optional_string(status: Mapping[str, Any], key: str) -> str | None:
    value = status.get(key)
    return value if isinstance(value, str) and value else None


def _of(count: int, total: int | None) -> str:
    return f"{count} of {total}" if total is not None else str(count)


def job_progress(job_status: Mapping[str, Any] | None, *, workers: int | None = None) -> Progress:
    """The TrainingJob phase for a Job status; `workers` (spec.workers) only improves messages."""
    status: Mapping[str, Any] = job_status or {}
    active, ready = _count(status, "active"), _count(status, "ready")
    succeeded, failed = _count(status, "succeeded"), _count(status, "failed")

    def progress(phase: Phase, reason: str, message: str) -> Progress:
        return Progress(
            phase,
            reason,
            message,
            active=active,
            ready=ready,
            succeeded=succeeded,
            failed=failed,
            start_time=_optional_string(status, "startTime"),
            completion_time=_optional_string(status, "completionTime"),
        )

    if (condition := _true_condition(status, FAILED_CONDITIONS)) is not None:
        return progress(
            "Failed",
            "JobFailed",
            f"the workload failed ({_explain(condition)}); {_of(failed, workers)} workers failed",
        )
    if (condition := _true_condition(status, SUCCEEDED_CONDITIONS)) is not None:
        return progress(
            "Succeeded",
            "JobSucceeded",
            f"training finished: {_of(succeeded, workers)} workers succeeded",
        )
    if active or succeeded or failed:
        return progress(
            "Running",
            "WorkersRunning",
            f"{_of(active, workers)} workers active ({ready} ready), {succeeded} succeeded, "
            f"{failed} failed",
        )
    return progress(
        "Admitted",
        "WorkloadCreated",
        "workload created; waiting for the Job controller to start workers",
    )
