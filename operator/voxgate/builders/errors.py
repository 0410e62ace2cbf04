"""The one error the builders raise."""

from __future__ import annotations


class WorkloadPlanError(ValueError):
    """The inputs cannot make a safe workload (one line, naming the field); nothing is built."""
