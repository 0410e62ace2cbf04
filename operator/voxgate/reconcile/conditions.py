"""One helper for every condition write, in the Kubernetes API conventions' shape.

lastTransitionTime changes only when a condition's status flips; reason, message and
observedGeneration are refreshed every time. Conditions keep a stable order by type.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from voxgate.policy.inputs import rfc3339

Condition = dict[str, Any]


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    *,
    generation: int,
    now: datetime.datetime,
) -> list[Condition]:
    value = "Unknown" if status is None else ("True" if status else "False")
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = (
        previous["lastTransitionTime"]
        if previous is not None
        and previous.get("status") == value
        and previous.get("lastTransitionTime")
        else rfc3339(now)
    )
    updated: Condition = {
        "type": type_,
        "status": value,
        "observedGeneration": generation,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message[:32768],
    }
    others = [c for c in conditions if c.get("type") != type_]
    return sorted([*others, updated], key=lambda c: str(c.get("type")))


def condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.get("type") == type_), None)
