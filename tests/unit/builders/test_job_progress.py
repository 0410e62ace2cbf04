"""job_progress: batch/v1 Job status -> TrainingJob phase, worker counts and a message."""

from __future__ import annotations

from typing import Any

import pytest

from voxgate.builders import JobStatusError, job_progress


def cond(kind: str, status: str = "True", reason: str = "", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


DEADLINE = cond("Failed", reason="DeadlineExceeded", message="Job was active longer than specified")
BACKOFF = cond("Failed", reason="BackoffLimitExceeded", message="Job has reached the backoff limit")

# (job status, phase, reason, (active, succeeded, failed))
TABLE: list[tuple[dict[str, Any] | None, str, str, tuple[int, int, int]]] = [
    (None, "Admitted", "WorkloadCreated", (0, 0, 0)),
    ({}, "Admitted", "WorkloadCreated", (0, 0, 0)),
    ({"active": 0, "succeeded": 0, "failed": 0}, "Admitted", "WorkloadCreated", (0, 0, 0)),
    ({"active": 4, "ready": 1}, "Running", "WorkersRunning", (4, 0, 0)),
    ({"active": 2, "succeeded": 2}, "Running", "WorkersRunning", (2, 2, 0)),
    # A failed pod before the controller concludes: not yet final.
    ({"active": 3, "failed": 1}, "Running", "WorkersRunning", (3, 0, 1)),
    ({"succeeded": 4, "conditions": [cond("Complete")]}, "Succeeded", "JobSucceeded", (0, 4, 0)),
    (
        {"active": 1, "succeeded": 3, "conditions": [cond("SuccessCriteriaMet")]},
        "Succeeded",
        "JobSucceeded",
        (1, 3, 0),
    ),
    ({"failed": 1, "conditions": [BACKOFF]}, "Failed", "JobFailed", (0, 0, 1)),
    ({"active": 0, "failed": 4, "conditions": [DEADLINE]}, "Failed", "JobFailed", (0, 0, 4)),
    (
        {"active": 2, "failed": 1, "conditions": [cond("FailureTarget", reason="BackoffLimit")]},
        "Failed",
        "JobFailed",
        (2, 0, 1),
    ),
    # Conditions that are not True mean nothing.
    (
        {"active": 4, "conditions": [cond("Failed", "False")]},
        "Running",
        "WorkersRunning",
        (4, 0, 0),
    ),
    ({"conditions": [cond("Complete", "Unknown")]}, "Admitted", "WorkloadCreated", (0, 0, 0)),
    # Failure wins if both ever appear (fail closed).
    (
        {"succeeded": 4, "conditions": [cond("Complete"), BACKOFF]},
        "Failed",
        "JobFailed",
        (0, 4, 0),
    ),
    # Suspended or unknown conditions do not change the phase.
    ({"conditions": [cond("Suspended")]}, "Admitted", "WorkloadCreated", (0, 0, 0)),
]


@pytest.mark.parametrize(("status", "phase", "reason", "counts"), TABLE)
def test_progress_table(
    status: dict[str, Any] | None, phase: str, reason: str, counts: tuple[int, int, int]
) -> None:
    progress = job_progress(status)
    assert progress.phase == phase
    assert progress.reason == reason
    active, succeeded, failed = counts
    assert progress.workers_status() == {
        "active": active,
        "succeeded": succeeded,
        "failed": failed,
    }
    assert progress.finished == (phase in ("Succeeded", "Failed"))
    assert progress.message
    assert "\n" not in progress.message


def test_failure_message_carries_the_controllers_reason() -> None:
    progress = job_progress({"failed": 2, "conditions": [DEADLINE]}, workers=4)
    assert progress.message == (
        "the workload failed (DeadlineExceeded: Job was active longer than specified); "
        "2 of 4 workers failed"
    )


def test_final_condition_preferred_over_early_verdict_for_the_message() -> None:
    early = cond("FailureTarget", reason="PodFailurePolicy", message="early")
    status = {"failed": 1, "conditions": [early, BACKOFF]}
    assert "BackoffLimitExceeded" in job_progress(status).message


def test_running_message_counts_ready_workers() -> None:
    progress = job_progress({"active": 4, "ready": 3, "succeeded": 0}, workers=4)
    assert progress.message == "4 of 4 workers active (3 ready), 0 succeeded, 0 failed"
    assert progress.ready == 3


def test_succeeded_message_and_times() -> None:
    status = {
        "succeeded": 4,
        "startTime": "2026-05-01T12:00:00Z",
        "completionTime": "2026-05-01T13:00:00Z",
        "conditions": [cond("SuccessCriteriaMet"), cond("Complete")],
    }
    progress = job_progress(status, workers=4)
    assert progress.message == "training finished: 4 of 4 workers succeeded"
    assert progress.start_time == "2026-05-01T12:00:00Z"
    assert progress.completion_time == "2026-05-01T13:00:00Z"
    assert job_progress({}).start_time is None


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ({"active": -1}, "status.active must be a count"),
        ({"succeeded": "4"}, "status.succeeded must be a count"),
        ({"failed": True}, "status.failed must be a count"),
        ({"conditions": {"type": "Complete"}}, "status.conditions must be a list"),
    ],
)
def test_malformed_status_is_refused(status: dict[str, Any], message: str) -> None:
    with pytest.raises(JobStatusError, match=message):
        job_progress(status)
