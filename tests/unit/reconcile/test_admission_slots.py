"""At most settings.max_concurrent_admissions admission passes run at once, in arrival order."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from voxgate.reconcile import trainingjob
from voxgate.reconcile.trainingjob import Operator, Result
from voxgate.settings import OperatorSettings


def operator(limit: int) -> Operator:
    unused = cast(Any, None)  # the stand-in admission below touches none of them
    return Operator(
        kube=unused,
        policy=unused,
        ledger=unused,
        settings=OperatorSettings(max_concurrent_admissions=limit),
        audit=unused,
    )


def new_job(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "team-a", "generation": 1}, "spec": {}}


async def test_passes_past_the_limit_wait_and_start_in_arrival_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running: set[str] = set()
    most = 0
    started: list[str] = []

    async def admit(_op: Operator, job: dict[str, Any]) -> Result:
        nonlocal most
        name = job["metadata"]["name"]
        started.append(name)
        running.add(name)
        most = max(most, len(running))
        await asyncio.sleep(0.01)
        running.discard(name)
        return Result({"phase": "Admitted"})

    monkeypatch.setattr(trainingjob, "_admit", admit)
    names = [f"job-{i:02d}" for i in range(12)]
    op = operator(3)
    results = await asyncio.gather(*(trainingjob.reconcile(op, new_job(n)) for n in names))
    assert [r.status["phase"] for r in results] == ["Admitted"] * len(names)
    assert most == 3
    assert started == names
