"""Compute resources of a worker: the job's own, or the policy's per-worker caps.

A job that sets no resources gets the tier's maxResourcesPerWorker as both limits and requests,
so an unbounded worker never runs next to sensitive data (its memory also bounds the in-memory
plaintext) and the scheduler reserves what the worker may use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voxgate.builders.errors import WorkloadPlanError

CAPS_KEY = "maxResourcesPerWorker"
# The init container only decrypts: it needs CPU, and memory for the plaintext it writes into the
# memory-backed volume (charged to its cgroup), but no accelerators.
UNSEAL_RESOURCE_NAMES = ("cpu", "memory")


def _quantities(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise WorkloadPlanError(f"{where} must be a map of resource quantities")
    quantities: dict[str, str] = {}
    for name, quantity in value.items():
        # YAML turns `cpu: 4` into an int; the API takes both, a string is unambiguous.
        if isinstance(quantity, bool) or not isinstance(quantity, str | int | float):
            raise WorkloadPlanError(f"{where}.{name} must be a quantity, got {quantity!r}")
        quantities[str(name)] = str(quantity)
    return dict(sorted(quantities.items()))


def worker_resources(
    spec_resources: object, obligations_document: Mapping[str, Any]
) -> dict[str, dict[str, str]]:
    """The trainer's `resources`: spec.resources if it sets any, else the obligations' caps."""
    resources = spec_resources if isinstance(spec_resources, Mapping) else {}
    requests = _quantities(resources.get("requests"), "spec.resources.requests")
    limits = _quantities(resources.get("limits"), "spec.resources.limits")
    if not requests and not limits:
        caps = _quantities(obligations_document.get(CAPS_KEY), f"obligations.{CAPS_KEY}")
        requests, limits = caps, dict(caps)
    result: dict[str, dict[str, str]] = {}
    if requests:
        result["requests"] = requests
    if limits:
        result["limits"] = limits
    return result


def unseal_resources(worker: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """The init container's share of the worker's resources (CPU and memory only)."""
    result: dict[str, dict[str, str]] = {}
    for kind, quantities in worker.items():
        kept = {n: q for n, q in quantities.items() if n in UNSEAL_RESOURCE_NAMES}
        if kept:
            result[kind] = kept
    return result
