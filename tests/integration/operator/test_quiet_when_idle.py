"""An operator with nothing to do writes nothing.

`voxgate operator run` hosts two kopf operators that both watch grants and datasets (the front
for the webhook's indexes, the reconcilers for their handlers). Once they fought over the
reconcilers' finalizer, one adding it and the other removing it, dozens of writes a second per
object, for ever, and every test still passed: only the write count shows it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.integration.operator.conftest import World

pytestmark = pytest.mark.integration

QUIET_SECONDS = 5.0


def test_settled_grants_and_datasets_are_not_written_again(world: World) -> None:
    dataset = world.create(world.example("datasets/callcentre-2024.yaml"))
    grant = world.create(world.example("grants/callcentre-team-asr.yaml"))
    objects = [("SpeechDataset", dataset), ("DataGrant", grant)]

    def settled(kind: str, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            current = world.get(kind, world.data_ns, name)
            phase = (current.get("status") or {}).get("phase")
            if phase in {"Ready", "NotReady", "Active"} and current["metadata"].get("finalizers"):
                return current
            time.sleep(0.2)
        pytest.fail(f"{kind} {name} never settled: {current.get('status')}")

    before = {
        name["metadata"]["name"]: settled(kind, name["metadata"]["name"]) for kind, name in objects
    }
    time.sleep(QUIET_SECONDS)
    for kind, obj in objects:
        name = obj["metadata"]["name"]
        after = world.get(kind, world.data_ns, name)
        assert after["metadata"].get("finalizers") == ["voxgate.io/operator"], after["metadata"]
        assert (
            after["metadata"]["resourceVersion"] == before[name]["metadata"]["resourceVersion"]
        ), (
            f"{kind} {name} was written while nothing changed: managed fields "
            f"{after['metadata'].get('managedFields')}"
        )
