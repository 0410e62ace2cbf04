"""At most settings.max_concurrent_admissions admission passes run at once, in arrival order."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from prometheus_client import REGISTRY

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
    waiting_seen: list[float] = []

    async def admit(_op: Operator, job: dict[str, Any]) -> Result:
        nonlocal most
        name = job["metadata"]["name"]
        started.append(name)
        running.add(name)
        most = max(most, len(running))
        await asyncio.sleep(0.01)
        waiting_seen.append(waiting())
        running.discard(name)
        return Result({"phase": "Admitted"})

    monkeypatch.setattr(trainingjob, "_admit", admit)
    names = [f"job-{i:02d}" for i in range(12)]
    op = operator(3)
    results = await asyncio.gather(*(trainingjob.reconcile(op, new_job(n)) for n in names))
    assert [r.status["phase"] for r in results] == ["Admitted"] * len(names)
    assert most == 3
    assert started == names
    assert waiting_seen[0] == len(names) - 3  # by then every other pass had come and queued
    assert waiting() == 0


async def test_a_failed_pass_gives_its_slot_back(monkeypatch: pytest.MonkeyPatch) -> None:
    async def admit(_op: Operator, job: dict[str, Any]) -> Result:
        await asyncio.sleep(0)
        if job["metadata"]["name"] == "broken":
            raise RuntimeError("the API server went away")
        return Result({"phase": "Admitted"})

    monkeypatch.setattr(trainingjob, "_admit", admit)
    op = operator(1)
    first, second = await asyncio.gather(
        trainingjob.reconcile(op, new_job("broken")),
        trainingjob.reconcile(op, new_job("fine")),
        return_exceptions=True,
    )
    assert isinstance(first, RuntimeError)
    assert isinstance(second, Result) and second.status["phase"] == "Admitted"
    assert waiting() == 0


def waiting() -> float:
    value = REGISTRY.get_sample_value("voxgate_admissions_waiting")
    assert value is not None
    return value
