"""The validating webhook's grant rules: stewards approve and revoke, never their own request."""

from __future__ import annotations

from typing import Any

import pytest

from voxgate.admission import REQUESTED_BY, Identity, ObjectChange, grant_refusal

STEWARDS = "voxgate-stewards"
ALICE = Identity("alice@example.org", ("team-asr",))
CAROL = Identity("carol@example.org", (STEWARDS,))
DAN = Identity("dan@example.org", (STEWARDS, "team-asr"))


def grant(requested_by: Identity | None = ALICE, **spec: Any) -> dict[str, Any]:
    annotations = {REQUESTED_BY: requested_by.stamp()} if requested_by else {}
    return {
        "kind": "DataGrant",
        "metadata": {"name": "g", "namespace": "data", "annotations": annotations},
        "spec": {"approved": False, "revoked": False, **spec},
    }


def update(user: Identity, old: dict[str, Any], **spec: Any) -> ObjectChange:
    new = {**old, "spec": {**old["spec"], **spec}}
    return ObjectChange("UPDATE", new, old, user)


def test_steward_approves_someone_elses_grant() -> None:
    assert grant_refusal(update(CAROL, grant(), approved=True), STEWARDS) is None


def test_non_steward_may_not_approve() -> None:
    refusal = grant_refusal(update(ALICE, grant(requested_by=DAN), approved=True), STEWARDS)
    assert refusal is not None
    assert "only members of the steward group 'voxgate-stewards' may approve" in refusal
    assert "alice@example.org" in refusal


def test_steward_may_not_approve_their_own_grant() -> None:
    refusal = grant_refusal(update(DAN, grant(requested_by=DAN), approved=True), STEWARDS)
    assert refusal is not None
    assert "requested this grant and may not approve it" in refusal
    assert "steward group" not in refusal


def test_non_steward_self_approval_gets_both_reasons_in_one_line() -> None:
    refusal = grant_refusal(update(ALICE, grant(), approved=True), STEWARDS)
    assert refusal is not None and "\n" not in refusal
    assert "steward group" in refusal and "may not approve it" in refusal


def test_creating_an_approved_grant_is_self_approval() -> None:
    refusal = grant_refusal(ObjectChange("CREATE", grant(approved=True), None, CAROL), STEWARDS)
    assert refusal is not None and "already approved" in refusal


def test_anyone_may_create_an_unapproved_grant() -> None:
    assert grant_refusal(ObjectChange("CREATE", grant(), None, ALICE), STEWARDS) is None


def test_approval_of_a_grant_without_recorded_requester_is_refused() -> None:
    refusal = grant_refusal(update(CAROL, grant(requested_by=None), approved=True), STEWARDS)
    assert refusal is not None and "no recorded requester" in refusal


def test_only_stewards_revoke() -> None:
    approved = grant(approved=True)
    assert grant_refusal(update(CAROL, approved, revoked=True), STEWARDS) is None
    refusal = grant_refusal(update(ALICE, approved, revoked=True), STEWARDS)
    assert refusal is not None and "may revoke" in refusal
    both = grant_refusal(update(ALICE, grant(), approved=True, revoked=True), STEWARDS)
    assert both is not None and "may approve or revoke" in both


def test_steward_may_revoke_a_grant_they_requested() -> None:
    assert (
        grant_refusal(update(DAN, grant(requested_by=DAN, approved=True), revoked=True), STEWARDS)
        is None
    )


def test_withdrawing_approval_and_other_edits_need_no_steward() -> None:
    approved = grant(approved=True)
    assert grant_refusal(update(ALICE, approved, approved=False), STEWARDS) is None
    assert grant_refusal(update(ALICE, approved, justification="narrower now"), STEWARDS) is None


def test_the_steward_group_is_configurable() -> None:
    assert grant_refusal(update(CAROL, grant(), approved=True), "data-stewards") is not None
    other = Identity("erin", ("data-stewards",))
    assert grant_refusal(update(other, grant(), approved=True), "data-stewards") is None


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
def test_other_operations_are_not_judged(operation: str) -> None:
    change = ObjectChange(operation, grant(approved=True), None, ALICE)
    assert grant_refusal(change, STEWARDS) is None
