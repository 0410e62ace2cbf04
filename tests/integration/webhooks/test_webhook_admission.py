"""The admission webhooks as users meet them: `kubectl apply` against a real API server that calls
the operator over TLS, with the decision from a real OPA."""

from __future__ import annotations

import copy
import http.client
import json
import re
import ssl
import time
from typing import TYPE_CHECKING, Any, cast

import pytest

from voxgate.admission import APPROVED_BY, REQUESTED_BY, REVOKED_BY

if TYPE_CHECKING:  # the fixtures' types; the fixtures themselves come from conftest.py
    from tests.integration.webhooks.conftest import WebhookCluster, World

pytestmark = pytest.mark.integration

DATASET = "datasets/callcentre-2024.yaml"
GRANT = "grants/callcentre-team-asr.yaml"
FORGED = '{"username":"mallory","groups":["voxgate-stewards","system:masters"]}'


def _stamp(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    raw = (obj["metadata"].get("annotations") or {}).get(key)
    return cast(dict[str, Any], json.loads(raw)) if raw else None


def test_denied_job_is_refused_at_apply_with_every_reason(
    world: World, webhook_cluster: WebhookCluster
) -> None:
    world.create_as_admin(world.example(DATASET))
    world.approved_grant(GRANT, world.people.alice)
    job = world.example("jobs/deny-two-reasons.yaml")
    applied = world.apply(job, world.people.alice)
    assert applied.returncode != 0
    stderr = applied.stderr
    assert 'admission webhook "validate-trainingjob.voxgate.io" denied the request' in stderr
    # Both reasons in the one message, with the decision id to look the decision up later.
    assert "DPRequired: " in stderr and "RegistryNotApproved: " in stderr
    assert "TrainingJob denied (decision " in stderr
    assert world.get("TrainingJob", world.team_ns, job["metadata"]["name"]) is None
    # The refusal is in the audit trail, under the decision id the researcher was shown.
    found = re.search(r"TrainingJob denied \(decision ([0-9a-f]+)", stderr)
    assert found is not None
    record = _audit_record(webhook_cluster, found.group(1))
    assert record["event"] == "decision.denied"
    assert record["details"]["source"] == "webhook"
    assert record["details"]["requester"] == "alice"
    assert record["details"]["codes"] == ["DPRequired", "RegistryNotApproved"]
    assert record["details"]["decidedAt"] <= record["time"]  # same RFC 3339 form: text order


def _audit_record(cluster: WebhookCluster, decision_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in cluster.audit_path.read_text().splitlines():
            record: dict[str, Any] = json.loads(line)
            if record["details"].get("decisionId") == decision_id:
                return record
        time.sleep(0.1)
    pytest.fail(f"no audit record for decision {decision_id}")


def test_allowed_job_is_created_stamped_with_the_real_requester(world: World) -> None:
    world.create_as_admin(world.example(DATASET))
    world.approved_grant(GRANT, world.people.bob)
    job = world.example("jobs/admit-asr-callcentre-dp.yaml")
    job["metadata"]["annotations"][REQUESTED_BY] = FORGED
    applied = world.apply(job, world.people.alice)
    assert applied.returncode == 0, applied.stderr
    stored = world.get("TrainingJob", world.team_ns, job["metadata"]["name"])
    assert stored is not None
    stamp = _stamp(stored, REQUESTED_BY)
    assert stamp is not None and stamp["username"] == "alice"
    assert "team-asr" in stamp["groups"]
    # The reconciler decides the same way on the same identity and admits the job.
    admitted = world.wait_for_phase("TrainingJob", job["metadata"]["name"], {"Admitted", "Denied"})
    assert admitted["status"]["phase"] == "Admitted", admitted["status"].get("message")


def test_forged_stamps_on_a_grant_are_replaced_by_real_identities(world: World) -> None:
    world.create_as_admin(world.example(DATASET))
    grant = world.example(GRANT)
    grant["spec"]["approved"] = False
    grant["metadata"]["annotations"] = {REQUESTED_BY: FORGED, APPROVED_BY: FORGED}
    created = world.apply(grant, world.people.alice)
    assert created.returncode == 0, created.stderr
    name = grant["metadata"]["name"]
    stored = world.get("DataGrant", world.data_ns, name)
    assert stored is not None
    assert _stamp(stored, REQUESTED_BY) == {
        "username": "alice",
        "groups": ["team-asr", "system:authenticated"],
    }
    assert _stamp(stored, APPROVED_BY) is None
    # A steward approves: the approver is recorded, the requester stays alice.
    approved = world.approve(name, world.people.carol)
    assert approved.returncode == 0, approved.stderr
    stored = world.get("DataGrant", world.data_ns, name)
    assert stored is not None
    assert (_stamp(stored, APPROVED_BY) or {})["username"] == "carol"
    assert (_stamp(stored, REQUESTED_BY) or {})["username"] == "alice"
    active = world.wait_for_phase("DataGrant", name, {"Active"})
    assert active["status"]["approvedBy"] == "carol"
    # Nobody rewrites history afterwards, not even the approver.
    grant = copy.deepcopy(stored)
    grant["metadata"]["annotations"].update({APPROVED_BY: FORGED, REQUESTED_BY: FORGED})
    grant["metadata"].pop("resourceVersion")
    rewritten = world.apply(grant, world.people.carol)
    assert rewritten.returncode == 0, rewritten.stderr
    stored = world.get("DataGrant", world.data_ns, name)
    assert stored is not None
    assert (_stamp(stored, APPROVED_BY) or {})["username"] == "carol"
    assert (_stamp(stored, REQUESTED_BY) or {})["username"] == "alice"


def test_steward_may_not_approve_their_own_grant(world: World) -> None:
    world.create_as_admin(world.example(DATASET))
    grant = world.example(GRANT)
    grant["spec"]["approved"] = False
    created = world.apply(grant, world.people.dan)
    assert created.returncode == 0, created.stderr
    refused = world.approve(grant["metadata"]["name"], world.people.dan)
    assert refused.returncode != 0
    assert 'admission webhook "validate-datagrant.voxgate.io" denied the request' in refused.stderr
    assert "'dan' requested this grant and may not approve it" in refused.stderr
    stored = world.get("DataGrant", world.data_ns, grant["metadata"]["name"])
    assert stored is not None and stored["spec"]["approved"] is False


def test_creating_an_already_approved_grant_is_refused(world: World) -> None:
    world.create_as_admin(world.example(DATASET))
    grant = world.example(GRANT)
    assert grant["spec"]["approved"] is True
    refused = world.apply(grant, world.people.carol)
    assert refused.returncode != 0
    assert "cannot create a DataGrant that is already approved" in refused.stderr
    assert world.get("DataGrant", world.data_ns, grant["metadata"]["name"]) is None


def test_non_steward_may_not_approve_or_revoke(world: World) -> None:
    world.create_as_admin(world.example(DATASET))
    grant = world.example(GRANT)
    grant["spec"]["approved"] = False
    created = world.apply(grant, world.people.alice)
    assert created.returncode == 0, created.stderr
    name = grant["metadata"]["name"]
    refused = world.approve(name, world.people.bob)
    assert refused.returncode != 0
    assert "only members of the steward group 'voxgate-stewards' may approve" in refused.stderr
    # Once a steward approved, revoking is a steward's act too.
    assert world.approve(name, world.people.carol).returncode == 0
    refused = world.approve(name, world.people.alice, field="revoked")
    assert refused.returncode != 0
    assert "may revoke a DataGrant, and 'alice' is not one" in refused.stderr
    revoked = world.approve(name, world.people.dan, field="revoked")
    assert revoked.returncode == 0, revoked.stderr
    stored = world.get("DataGrant", world.data_ns, name)
    assert stored is not None and stored["spec"]["revoked"] is True
    assert (_stamp(stored, REVOKED_BY) or {})["username"] == "dan"


def test_a_call_at_a_path_the_operator_does_not_serve_is_refused(
    webhook_cluster: WebhookCluster, world: World
) -> None:
    """A WebhookConfiguration naming a path the operator has no handler for (chart and image of
    different versions) must not wave requests through, as kopf alone would."""
    job = world.example("jobs/admit-tts-synthetic.yaml")
    review: dict[str, Any] = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "8d1f0c52-unknown-path",
            "kind": {"group": "voxgate.io", "version": "v1alpha1", "kind": "TrainingJob"},
            "resource": {"group": "voxgate.io", "version": "v1alpha1", "resource": "trainingjobs"},
            "name": job["metadata"]["name"],
            "namespace": world.team_ns,
            "operation": "CREATE",
            "userInfo": {"username": world.people.alice.username, "groups": ["team-asr"]},
            "object": job,
            "dryRun": True,
        },
    }
    context = ssl.create_default_context(cadata=webhook_cluster.ca_bundle.decode())

    def call(path: str) -> dict[str, Any]:
        connection = http.client.HTTPSConnection("127.0.0.1", webhook_cluster.port, context=context)
        try:
            body = json.dumps(review)
            connection.request("POST", f"/{path}", body, {"Content-Type": "application/json"})
            reply = connection.getresponse()
            assert reply.status == 200
            return cast(dict[str, Any], json.loads(reply.read())["response"])
        finally:
            connection.close()

    served = call("mutate-requester")  # the same request at a path it serves: answered
    assert served["uid"] == review["request"]["uid"] and served["allowed"] is True
    refused = call("validate-everything")
    assert refused["uid"] == review["request"]["uid"] and refused["allowed"] is False
    assert "no admission webhook at path /validate-everything" in refused["status"]["message"]
