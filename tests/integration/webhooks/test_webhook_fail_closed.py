"""With the policy engine down, the validating webhook refuses every TrainingJob (fail closed).

A module of its own, so its cluster (and the OPA it stops) is not the one the other webhook
tests use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import yaml

if TYPE_CHECKING:  # the fixtures' types; the fixtures themselves come from conftest.py
    from tests.integration.webhooks.conftest import WebhookCluster, World

pytestmark = pytest.mark.integration


def test_job_is_refused_while_the_policy_engine_is_down(
    webhook_cluster: WebhookCluster, world: World
) -> None:
    world.create_as_admin(world.example("datasets/synthetic-voices.yaml"))
    world.approved_grant("grants/synthetic-team-asr.yaml", world.people.bob)
    job = world.example("jobs/admit-tts-synthetic.yaml")
    # The same job is admitted while OPA answers (dry run: nothing is stored) ...
    allowed = world.plane.kubectl(
        "create", "--dry-run=server", "-f", "-", input=yaml.safe_dump(job), user=world.people.alice,
        check=False,
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    webhook_cluster.opa.stop()
    # ... and refused once it cannot.
    refused = world.apply(job, world.people.alice)
    assert refused.returncode != 0
    assert (
        'admission webhook "validate-trainingjob.voxgate.io" denied the request' in refused.stderr
    )
    assert "PolicyUnavailable: the policy engine gave no usable answer" in refused.stderr
    assert "cannot reach OPA" in refused.stderr
    assert world.get("TrainingJob", world.team_ns, job["metadata"]["name"]) is None
